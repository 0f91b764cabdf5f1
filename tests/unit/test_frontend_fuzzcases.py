"""Fuzz findings of issue 28 in the frontend: every message names the user's value and place,
one file gives one answer near the memory bound, and no message is unbounded."""

from __future__ import annotations

from pathlib import Path

import pytest

from envtrack.errors import LocatedError
from envtrack.frontend.bounded import MAX_MESSAGE, Limits, evaluate_bounded


def plan_error(tmp_path: Path, body: str, limits: Limits | None = None) -> LocatedError:
    envd = tmp_path / "build.envd"
    envd.write_text(f"def build():\n    {body}\n")
    with pytest.raises(LocatedError) as caught:
        evaluate_bounded(str(envd), "build", limits)
    return caught.value


def test_an_unknown_member_called_with_an_unconvertible_value_still_says_did_you_mean(tmp_path: Path) -> None:
    error = plan_error(tmp_path, "install.cudaa(lambda x: x)")
    assert error.reason == "unknown function install.cudaa (did you mean install.cuda?)"
    assert (error.position.line, error.position.column) == (2, 5)


def test_a_positional_value_that_cannot_be_converted_names_the_parameter(tmp_path: Path) -> None:
    assert plan_error(tmp_path, "base(lambda x: x)").reason == "base: for parameter 'image': got function, want string"
    assert "Starlark tuple" not in plan_error(tmp_path, 'run(["true"], lambda x: x)').reason


def test_a_huge_fail_message_is_bounded(tmp_path: Path) -> None:
    error = plan_error(tmp_path, 'fail("x" * 100000)')
    assert len(error.reason) < MAX_MESSAGE + 100 and error.reason.endswith("characters in all)")


def test_a_fail_message_that_exhausts_memory_is_the_memory_message_every_time(tmp_path: Path) -> None:
    limits = Limits(memory_mb=256)
    answers = {plan_error(tmp_path, "fail(str(list(range(10000000))))", limits).reason for _ in range(2)}
    assert len(answers) == 1
    assert answers.pop().startswith("evaluation needed more than 256 MiB of memory")
