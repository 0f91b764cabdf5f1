"""Seeded fuzz of the frontend: mutated build.envd bytes give a Plan or one located error, and every
Plan lowers to LLB or fails at a place.

The golden plan cases are cut, spliced and salted with the bytes that used to crash
the interpreter (NUL, invalid UTF-8, escapes cut before multi-byte characters, lone
surrogates in load paths, deep brackets, endless loops). ENVTRACK_FUZZ_FRONTEND sets
how many files (CI: the default; 10000 for a long run); a failure names its seed and
index, so `ENVTRACK_FUZZ_FRONTEND=... pytest -k` reproduces it.
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

import pytest

from envtrack.errors import EnvtrackError, LocatedError
from envtrack.frontend import load_plan
from envtrack.llb.compile import compile_plan

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "plan"
SOURCES = sorted((p / "build.envd").read_bytes() for p in GOLDEN.iterdir() if (p / "build.envd").is_file())
COUNT = int(os.environ.get("ENVTRACK_FUZZ_FRONTEND", "300"))
SEEDS = (11, 12, 13)
FRAGMENTS = [
    *(c.encode() for c in "()[]{},.=:;\"'\n #\\"), b"\x00", b"\xff", b"\xc3", "é".encode(), "€".encode(),
    b'"\\x0', b'"\\u12', b'"\\ud800"', b'load("\\ud800.envd", "x")\n', b'load("a\\x00.envd", "x")\n',
    b"install.", b"run(", b"base", b"load(", b"def ", b"    ", b"lambda ", b"for ", b" in ", b"**", b"site_id=",
    b"[" * 300, b"range(1000000000)", b'"x" * 10000000000', b"[1] * 1000000000", b"\r", b"\t",
]
# Small enough that the slow mutants (endless loops, memory bombs) end fast.
LIMITS = {"ENVTRACK_EVAL_SECONDS": "2", "ENVTRACK_EVAL_MEMORY_MB": "256"}


def mutate(rng: random.Random, data: bytes) -> bytes:
    for _ in range(rng.randint(1, 5)):
        at = rng.randrange(len(data) + 1)
        if rng.random() < 0.35:
            data = data[:at] + data[at + rng.randint(1, 6):]
        else:
            data = data[:at] + rng.choice(FRAGMENTS) + data[at:]
    return data


def check_position(error: LocatedError, context: str) -> None:
    """The place exists: a real file, a line in it, a column on that line (or just past it)."""
    path = Path(error.position.file)
    assert path.is_file(), f"{context}\n{error.message}"
    # A lone CR ends a line too, for Starlark as for editors.
    lines = re.split(r"\r\n|\r|\n", path.read_bytes().decode("utf-8", "replace"))
    assert 1 <= error.position.line <= len(lines), f"{context}\n{error.message}"
    assert 1 <= error.position.column <= len(lines[error.position.line - 1]) + 1, f"{context}\n{error.message}"


def lowers_or_fails_at_a_position(plan, context: str) -> int:
    """Every plan the frontend accepts lowers to LLB (no Engine needed) or fails at a place: 1 if it lowered."""
    try:
        compile_plan(plan)
    except LocatedError as error:
        check_position(error, context)
        assert "\n" not in error.message, context
        return 0
    except Exception as error:  # noqa: BLE001 - KeyError: 0 from an empty host path was one
        pytest.fail(f"{context}\nlowering escaped as {type(error).__name__}: {error}")
    return 1


@pytest.mark.parametrize("seed", SEEDS)
def test_mutants_end_in_a_plan_or_a_located_error(seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in LIMITS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "helpers.envd").write_text('def helper():\n    run(commands=["x"])\n')
    rng = random.Random(seed)
    outcomes = {"plan": 0, "located": 0, "lowered": 0}
    for index in range(COUNT // len(SEEDS)):
        data = mutate(rng, rng.choice(SOURCES))
        Path("build.envd").write_bytes(data)
        context = f"seed {seed} mutant {index}: {data[:400]!r}"
        try:
            plan = load_plan("build.envd")
            outcomes["plan"] += 1
            outcomes["lowered"] += lowers_or_fails_at_a_position(plan, context)
        except LocatedError as error:
            check_position(error, context)
            assert "\n" not in error.message, context
            assert "cannot evaluate this text" not in error.reason, f"{context}\n{error.message}"
            assert "exit status" not in error.reason, f"{context}\n{error.message}"  # an unexplained abort
            outcomes["located"] += 1
        except EnvtrackError as error:  # only a load of a file this directory lacks
            assert "no such file" in error.message or "cannot load" in error.message, f"{context}\n{error.message}"
        except Exception as error:  # noqa: BLE001 - the violation this suite looks for
            pytest.fail(f"{context}\nescaped as {type(error).__name__}: {error}")
    assert outcomes["located"] > 0 and outcomes["plan"] > 0 and outcomes["lowered"] > 0
