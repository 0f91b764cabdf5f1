"""Mutated envd files either evaluate or fail with one located error inside the file.

The golden cases are cut and spliced at random (fixed seeds, so failures reproduce);
whatever comes out must never escape as a Python exception, crash the interpreter,
or point at a place that does not exist in the user's text.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from envtrack.errors import EnvtrackError, LocatedError
from envtrack.frontend import load_plan

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "plan"
SOURCES = sorted((p / "build.envd").read_text() for p in GOLDEN.iterdir() if (p / "build.envd").is_file())
FRAGMENTS = [*"()[]{},.=:;\"'\n #\\", "install.", "run(", "base", "load(", "def ", "    ", "lambda ", "for ", " in ", "**"]
MUTANTS_PER_SEED = 150


def mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(text) + 1)
        if rng.random() < 0.4:
            text = text[:at] + text[at + rng.randint(1, 5):]
        else:
            text = text[:at] + rng.choice(FRAGMENTS) + text[at:]
    return text


def assert_inside_the_file(error: LocatedError) -> None:
    lines = Path(error.position.file).read_text().split("\n")
    assert 1 <= error.position.line <= len(lines), error.message
    assert 1 <= error.position.column <= len(lines[error.position.line - 1]) + 1, error.message


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mutated_files_fail_only_with_located_errors(seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    monkeypatch.chdir(tmp_path)
    outcomes = {"plan": 0, "located": 0}
    for _ in range(MUTANTS_PER_SEED):
        text = mutate(rng, rng.choice(SOURCES))
        Path("build.envd").write_text(text)
        try:
            load_plan("build.envd")
            outcomes["plan"] += 1
        except LocatedError as error:
            assert_inside_the_file(error)
            outcomes["located"] += 1
        except EnvtrackError as error:  # only a load of a file this directory lacks
            assert "no such file" in error.message or "cannot load" in error.message, error.message
    assert outcomes["located"] > 0 and outcomes["plan"] > 0  # the mutations exercise both paths
