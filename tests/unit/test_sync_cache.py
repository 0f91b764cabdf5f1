"""Sync's edits keep BuildKit's cache: compiled to LLB, every step before the first edited
one has the same vertex digest before and after the rewrite (pure: no engine needed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from envtrack.frontend import load_plan
from envtrack.llb.compile import compile_plan
from envtrack.llb.options import BuildOptions
from tests.unit.test_sync_golden import copy_inputs
GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "sync"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "after.envd").is_file())

OPTIONS = BuildOptions(ca_bundle=b"test CA\n")


def step_digests(envd: Path) -> list[tuple[str, object, str]]:
    """(kind, args, vertex digest) of every step that makes a vertex, in plan order."""
    compiled = compile_plan(load_plan(envd), OPTIONS)
    by_step = {id(step): digest for digest, step in compiled.steps_by_vertex.items()}
    plan_steps = list(compiled.steps_by_vertex.values())
    return [(s.kind, s.args, by_step[id(s)]) for s in plan_steps]


def first_difference(old: list, new: list) -> int:
    for index, (a, b) in enumerate(zip(old, new)):
        if a[:2] != b[:2]:
            return index
    return min(len(old), len(new))


@pytest.mark.parametrize("name", CASES)
def test_steps_before_the_first_edit_keep_their_vertices(name: str, tmp_path: Path) -> None:
    (tmp_path / "before").mkdir()
    (tmp_path / "after").mkdir()
    shutil.copyfile(GOLDEN / name / "before.envd", tmp_path / "before" / "build.envd")
    shutil.copyfile(GOLDEN / name / "after.envd", tmp_path / "after" / "build.envd")
    copy_inputs(GOLDEN / name, tmp_path / "before")
    copy_inputs(GOLDEN / name, tmp_path / "after")
    old, new = step_digests(tmp_path / "before" / "build.envd"), step_digests(tmp_path / "after" / "build.envd")

    first = first_difference(old, new)

    assert [d for *_, d in old[:first]] == [d for *_, d in new[:first]]


def test_appending_keeps_every_existing_step_cached(tmp_path: Path) -> None:
    # comments_kept only adds packages: the whole old chain is a prefix of the new one.
    (tmp_path / "before").mkdir()
    (tmp_path / "after").mkdir()
    shutil.copyfile(GOLDEN / "comments_kept" / "before.envd", tmp_path / "before" / "build.envd")
    shutil.copyfile(GOLDEN / "comments_kept" / "after.envd", tmp_path / "after" / "build.envd")
    old, new = step_digests(tmp_path / "before" / "build.envd"), step_digests(tmp_path / "after" / "build.envd")
    assert len(new) > len(old)
    assert new[: len(old)] == old
