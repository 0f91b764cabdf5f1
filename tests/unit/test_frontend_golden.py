"""Golden tests: `envtrack plan --json` output, or the located error, for each case.

Each directory in tests/golden/plan/ holds a build.envd (plus any files it loads), an
optional `target` file naming the function to call, and either `expected.json` (the
plan) or `expected.err` (the one-line error). Directories named `error_*` must fail.
Regenerate with ENVTRACK_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from envtrack.cli.plan import render_json
from envtrack.errors import LocatedError
from envtrack.frontend import load_plan

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "plan"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "build.envd").is_file())
UPDATE = os.environ.get("ENVTRACK_UPDATE_GOLDEN") == "1"


def _evaluate(case: Path) -> tuple[str, str]:
    """("json", plan) or ("err", message), evaluated from inside the case directory."""
    target_file = case / "target"
    target = target_file.read_text().strip() if target_file.exists() else "build"
    try:
        return "json", render_json(load_plan("build.envd", target)) + "\n"
    except LocatedError as error:
        return "err", error.message + "\n"


@pytest.mark.parametrize("name", CASES)
def test_plan_golden(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    case = GOLDEN / name
    monkeypatch.chdir(case)
    kind, actual = _evaluate(case)
    assert (kind == "err") == name.startswith("error_"), f"{name}: got {kind}: {actual}"
    expected_file = case / f"expected.{kind}"
    if UPDATE:
        for stale in case.glob("expected.*"):
            stale.unlink()
        expected_file.write_text(actual)
    assert expected_file.exists(), f"{name}: no expected.{kind}; run with ENVTRACK_UPDATE_GOLDEN=1"
    assert actual == expected_file.read_text()


def test_enough_golden_cases() -> None:
    plans = [c for c in CASES if not c.startswith("error_")]
    errors = [c for c in CASES if c.startswith("error_")]
    assert len(plans) >= 15 and len(errors) >= 10


def test_quickstart_example_matches_its_golden_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    example = GOLDEN.parent.parent.parent / "examples" / "quickstart"
    monkeypatch.chdir(example)
    assert _evaluate(example) == ("json", (GOLDEN / "quickstart" / "expected.json").read_text())
