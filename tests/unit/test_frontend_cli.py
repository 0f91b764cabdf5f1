"""`envtrack plan` as a user runs it: output formats, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "plan"


def test_plan_json_matches_golden_and_is_stable() -> None:
    case = GOLDEN / "interleaved"
    first = run_cli("plan", "--json", cwd=case, check=True)
    second = run_cli("plan", "build.envd", "--json", cwd=case, check=True)
    assert first.stdout == second.stdout == (case / "expected.json").read_text()
    document = json.loads(first.stdout)
    kinds = [step["kind"] for step in document["steps"]]
    assert kinds[2:5] == ["install.apt_packages", "install.python_packages", "run"]


def test_plan_text_lists_steps_with_positions() -> None:
    proc = run_cli("plan", str(GOLDEN / "quickstart"), check=True)
    lines = proc.stdout.splitlines()
    assert len(lines) == 6
    assert lines[2].startswith("3. install.apt_packages jq")
    assert lines[2].endswith("/quickstart/build.envd:6:5)")


def test_plan_target_option() -> None:
    proc = run_cli("plan", "--target", "gpu", "--json", cwd=GOLDEN / "other_target", check=True)
    assert json.loads(proc.stdout)["target"] == "gpu"


def test_located_error_is_one_line_and_exit_2() -> None:
    proc = run_cli("plan", cwd=GOLDEN / "error_wrong_type")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (GOLDEN / "error_wrong_type" / "expected.err").read_text()


def test_syntax_error_has_no_traceback() -> None:
    proc = run_cli("plan", "build.envd", "--json", cwd=GOLDEN / "error_syntax")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [(GOLDEN / "error_syntax" / "expected.err").read_text().strip()]


def test_missing_file_exits_2(tmp_path: Path) -> None:
    proc = run_cli("plan", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no such envd file" in proc.stderr and "Traceback" not in proc.stderr


def test_print_goes_to_stderr(tmp_path: Path) -> None:
    (tmp_path / "build.envd").write_text('def build():\n    print("hello")\n    shell()\n')
    proc = run_cli("plan", "--json", cwd=tmp_path, check=True)
    assert json.loads(proc.stdout)["steps"][0]["kind"] == "shell"
    assert proc.stderr.strip() == "hello"
