"""Golden digests: the same plan and options always compile to the same bytes.

If a deliberate change to lowering moves these digests, update them in the same commit
and say why: every user's build cache is keyed by them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from envtrack.errors import Position
from envtrack.frontend.steps import Plan, Step
from envtrack.llb.compile import compile_plan
from envtrack.llb.options import BuildOptions
from envtrack.pb import ops_pb2 as pb

FILE = "build.envd"


def step(line: int, kind: str, **args) -> Step:
    return Step(kind, args, Position(FILE, line, 5))


def plan(*steps: Step) -> Plan:
    return Plan(file=FILE, target="build", steps=tuple(steps))


def quickstart() -> Plan:
    return plan(
        step(4, "base", image="envtrack/base:bookworm", dev=True),
        step(5, "install.python", version="3.11"),
        step(6, "install.apt_packages", name=["jq"]),
        step(7, "install.python_packages", name=["six"], requirements="", local_wheels=[]),
        step(8, "run", commands=["echo 'ready' > /etc/motd"], mount_host=False),
        step(9, "runtime.environ", env={"PROJECT": "quickstart"}, extra_path=[]),
    )


def interleaved(apt_second: list[str] | None = None) -> Plan:
    return plan(
        step(2, "base", image="envtrack/base:bookworm", dev=False),
        step(3, "install.apt_packages", name=["jq"]),
        step(4, "run", commands=["echo one > /one"], mount_host=False),
        step(5, "install.python", version="3.11"),
        step(6, "install.python_packages", name=["tomli"], requirements="", local_wheels=[]),
        step(7, "run", commands=["echo two > /two", "cat /one /two"], mount_host=False),
        step(8, "install.apt_packages", name=apt_second or ["tree"]),
        step(9, "install.python_packages", name=["six"], requirements="", local_wheels=[]),
    )


def envd_builtins() -> Plan:
    """The builtins beyond the core installers, each lowered as it is built on the engine."""
    return plan(
        step(2, "base", image="envtrack/base:bookworm", dev=False),
        step(3, "install.python", version="3.11"),
        step(4, "git_config", name="Me", email="me@example.com", editor="vim"),
        step(5, "install.conda", use_mamba=True),
        step(6, "config.conda_channel", channel="channels:\n  - http://172.17.0.1:8000\n"),
        step(7, "install.conda_packages", name=["envtrack-hello"], channel=[], env_file=""),
        step(8, "install.uv", python_version="3.11"),
        step(9, "io.http", url="http://127.0.0.1:8000/f.txt", checksum="sha256:" + "0" * 64, filename="f.txt"),
        step(10, "runtime.mount", host_path="data", envd_path="/data"),
        step(11, "config.jupyter", token="t", port=18888),
        step(12, "config.entrypoint", args=["date", "-u"]),
        step(13, "install.go", version="1.22"),
    )


def vertex_digests(definition: bytes) -> list[str]:
    parsed = pb.Definition()
    parsed.ParseFromString(definition)
    return ["sha256:" + hashlib.sha256(d).hexdigest() for d in getattr(parsed, "def")[:-1]]


GOLDEN = {
    "quickstart": "sha256:e55d4ba8498bcdd0170be515db4ff808727df8a847b4223f88d7cddd14e163af",
    "interleaved": "sha256:ac0b9b23d42dcf7a3d31bb5550e2654e1a0a24543c19a9bf908c1a63d4c0ec49",
    "quickstart+ca": "sha256:1b66fa9e9b11e84c01d5c2ba85f85979661ba29511f7e3196d60201a5620cccb",
    "envd_builtins": "sha256:6f6cc0dd46170d35106fb1004fdf6384997426de1b783a11bb415b9608e00c93",
}


@pytest.mark.parametrize("name, make, options", [
    ("quickstart", quickstart, BuildOptions()),
    ("interleaved", interleaved, BuildOptions()),
    ("quickstart+ca", quickstart, BuildOptions(ca_bundle=b"-----BEGIN CERTIFICATE-----\nfake\n")),
    ("envd_builtins", envd_builtins, BuildOptions()),
])
def test_golden_digests(name, make, options):
    first = compile_plan(make(), options)
    second = compile_plan(make(), options)
    assert first.definition == second.definition
    assert first.digest == GOLDEN[name], f"{name}: {first.digest}"


def test_one_vertex_per_build_step_in_the_users_order():
    compiled = compile_plan(interleaved())
    kinds = [s.kind for s in compiled.steps_by_vertex.values()]
    assert kinds == ["base", "install.apt_packages", "run", "install.python", "install.python_packages",
                     "run", "install.apt_packages", "install.python_packages"]
    # steps_by_vertex follows the chain: each step's vertex is an input of the next one's.
    digests = list(compiled.steps_by_vertex)
    assert digests == vertex_digests(compiled.definition)
    assert digests[-1] == compiled.digest


@pytest.mark.parametrize("k", range(1, 8))
def test_changing_step_k_changes_digests_from_k_on_only(k):
    original = interleaved()
    steps = list(original.steps)
    changed_step = steps[k]
    if changed_step.kind == "run":
        args = {**changed_step.args, "commands": changed_step.args["commands"] + ["true"]}
    elif changed_step.kind == "install.python":
        args = {"version": "3.12"}
    else:
        args = {**changed_step.args, "name": changed_step.args["name"] + ["file"]}
    steps[k] = Step(changed_step.kind, args, changed_step.position)
    before = list(compile_plan(original).steps_by_vertex)
    after = list(compile_plan(Plan(original.file, original.target, tuple(steps))).steps_by_vertex)
    assert before[:k] == after[:k]
    assert all(b != a for b, a in zip(before[k:], after[k:]))


def test_positions_and_labels_do_not_move_digests():
    moved = plan(*(Step(s.kind, s.args, Position("other.envd", s.position.line + 10, 1))
                   for s in quickstart().steps))
    assert compile_plan(moved).digest == compile_plan(quickstart()).digest


def test_the_quickstart_example_compiles_to_the_golden_digest():
    from envtrack.frontend import load_plan

    example = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "build.envd"
    compiled = compile_plan(load_plan(example))
    assert compiled.digest == compile_plan(quickstart()).digest


def test_quickstart_definition_bytes_are_golden():
    """Names and source maps are not in digests, but they are in the bytes sent."""
    definition = compile_plan(quickstart()).definition
    assert hashlib.sha256(definition).hexdigest() == (
        "339b5f7f983486bc22facb7a768f06aeb54e48ddb69a569a7e40f132d554b94e"
    )
