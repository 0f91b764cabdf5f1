"""Hostile build.envd files: bytes Starlark cannot take, and programs that never end or
eat memory. Each ends in one located error inside the file, quickly, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import run_cli
from envtrack.errors import LocatedError, Position
from envtrack.frontend import load_plan


def located(tmp_path: Path, data: bytes) -> LocatedError:
    envd = tmp_path / "build.envd"
    envd.write_bytes(data)
    with pytest.raises(LocatedError) as caught:
        load_plan(envd)
    return caught.value


def where(error: LocatedError) -> tuple[int, int]:
    return error.position.line, error.position.column


def test_a_nul_byte_is_located(tmp_path: Path) -> None:
    error = located(tmp_path, b'def build():\n    base(image="x")\x00\n')
    assert where(error) == (2, 20) and "NUL" in error.reason


def test_a_truncated_escape_before_a_multibyte_character_is_located(tmp_path: Path) -> None:
    error = located(tmp_path, 'def build():\n    run(commands=["\\x0é"])\n'.encode())
    assert where(error) == (2, 20) and "invalid escape sequence" in error.reason


def test_non_utf8_text_is_located_at_the_bad_byte(tmp_path: Path) -> None:
    error = located(tmp_path, b'def build():\n    run(commands=["\xc3\xa9\xff"])\n')
    assert where(error) == (2, 21) and "not UTF-8" in error.reason


@pytest.mark.parametrize("path", ["a\\x00b.envd", "\\ud800.envd"])
def test_load_paths_that_name_no_file_are_located(tmp_path: Path, path: str) -> None:
    error = located(tmp_path, f'load("{path}", "x")\ndef build():\n    pass\n'.encode())
    assert where(error) == (1, 6) and "NUL or a lone surrogate" in error.reason


def test_a_symbol_with_a_lone_surrogate_is_located(tmp_path: Path) -> None:
    (tmp_path / "lib.envd").write_text("x = 1\n")
    error = located(tmp_path, b'load("lib.envd", "\\ud800")\ndef build():\n    pass\n')
    assert where(error) == (1, 18)


def test_loading_a_fifo_does_not_block(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.envd")
    error = located(tmp_path, b'load("pipe.envd", "x")\ndef build():\n    pass\n')
    assert where(error) == (1, 1) and "not a regular file" in error.reason


def test_a_keyword_named_like_the_call_site_id_is_an_ordinary_argument_error(tmp_path: Path) -> None:
    error = located(tmp_path, b'def build():\n    run(site_id=1, commands=["x"])\n')
    assert where(error) == (2, 5) and "site_id" in error.reason and "_callback" not in error.reason


def test_brackets_nested_too_deep_are_located(tmp_path: Path) -> None:
    error = located(tmp_path, b"def build():\n    x = " + b"[" * 500 + b"]" * 500 + b"\n")
    assert error.position.line == 2 and "nested" in error.reason


def test_an_endless_loop_stops_at_the_deadline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVTRACK_EVAL_SECONDS", "1")
    error = located(tmp_path, b'def build():\n    run(commands=["a"])\n    for i in range(1000000000):\n        pass\n')
    assert error.position == Position(str(tmp_path / "build.envd"), 1, 5)   # build() was running
    assert "did not finish within 1 s" in error.reason
    assert f"its last builtin call was {tmp_path / 'build.envd'}:2:5" in error.reason


@pytest.mark.parametrize("expression", ['"x" * 10000000000', "[1] * 1000000000",
                                        "[[i for i in range(100000)] for j in range(100000)]"])
def test_memory_bombs_end_with_a_located_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, expression: str) -> None:
    monkeypatch.setenv("ENVTRACK_EVAL_MEMORY_MB", "256")
    monkeypatch.setenv("ENVTRACK_EVAL_SECONDS", "10")
    error = located(tmp_path, f"def build():\n    x = {expression}\n".encode())
    assert error.position.line in (1, 2)
    assert "memory" in error.reason or "too large" in error.reason


def test_recursion_is_refused(tmp_path: Path) -> None:
    error = located(tmp_path, b"def f():\n    return f()\n\ndef build():\n    f()\n")
    assert where(error) == (2, 12) and "recursively" in error.reason


def test_endless_builtin_calls_stop_at_the_step_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVTRACK_EVAL_MAX_STEPS", "50")
    error = located(tmp_path, b'def build():\n    for i in range(1000000000):\n        run(commands=["a"])\n')
    assert where(error) == (3, 9) and "more than 50 build steps" in error.reason


def test_the_cli_prints_one_line_for_a_nul_byte(tmp_path: Path) -> None:
    (tmp_path / "build.envd").write_bytes(b"def build():\n\x00    pass\n")
    proc = run_cli("plan", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "build.envd:2:1: NUL byte in the file (is it a binary file?)\n"


def test_a_lone_carriage_return_is_located(tmp_path: Path) -> None:
    # Starlark ends a line at a lone CR and Python's tokenizer does not: positions would disagree.
    error = located(tmp_path, b'def build():\n    base(image="x")\r    run(commands=["a"])\n')
    assert where(error) == (2, 20) and "carriage return" in error.reason


def test_crlf_files_still_evaluate(tmp_path: Path) -> None:
    envd = tmp_path / "build.envd"
    envd.write_bytes(b'def build():\r\n    base(image="x")\r\n')
    assert [step.kind for step in load_plan(envd).steps] == ["base"]


def test_the_deadline_waits_while_include_clones() -> None:
    import time

    from envtrack.frontend.bounded import _collect

    read_end, write_end = os.pipe()
    start = time.monotonic()
    try:
        payload, timed_out = _collect(read_end, 0.2, lambda: time.monotonic() - start < 1.0)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert timed_out and payload == b"" and time.monotonic() - start >= 1.0


def test_a_stop_after_a_loaded_helper_returned_is_not_put_in_the_loaded_file(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # The last builtin call was in lib.envd, but build() in build.envd was running when the Go runtime gave up.
    monkeypatch.setenv("ENVTRACK_EVAL_MEMORY_MB", "256")
    (tmp_path / "lib.envd").write_text('def setup():\n    base(image="x")\n')
    bomb = "[[i for i in range(100000)] for j in range(100000)]"
    body = f'load("lib.envd", "setup")\ndef build():\n    setup()\n    x = {bomb}\n'
    answers = {str(located(tmp_path, body.encode())) for _ in range(2)}
    assert len(answers) == 1   # one file, one answer
    assert answers.pop().startswith(f"{tmp_path / 'build.envd'}:2:5: evaluation needed more than 256 MiB of memory "
                                    "in the function or file that starts here (the Go runtime stopped without saying where)")


def test_a_stop_in_the_top_level_after_a_load_is_put_in_the_loading_file(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVTRACK_EVAL_MEMORY_MB", "256")
    (tmp_path / "lib.envd").write_text('def setup():\n    base(image="x")\n')
    body = 'load("lib.envd", "setup")\nX = [[i for i in range(100000)] for j in range(100000)]\ndef build():\n    setup()\n'
    error = located(tmp_path, body.encode())
    assert error.position == Position(str(tmp_path / "build.envd"), 1, 1) and "MiB of memory" in error.reason


def test_a_stop_in_a_loaded_file_is_put_in_that_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVTRACK_EVAL_MEMORY_MB", "256")
    (tmp_path / "lib.envd").write_text("X = [[i for i in range(100000)] for j in range(100000)]\ndef setup():\n    pass\n")
    error = located(tmp_path, b'load("lib.envd", "setup")\ndef build():\n    setup()\n')
    assert error.position == Position(str(tmp_path / "lib.envd"), 1, 1) and "MiB of memory" in error.reason


def test_errors_inside_a_loaded_helper_are_at_their_place_there(tmp_path: Path) -> None:
    (tmp_path / "lib.envd").write_text('def setup():\n    base(image=range(1000000000))\n')
    error = located(tmp_path, b'load("lib.envd", "setup")\ndef build():\n    setup()\n')
    assert str(error) == f"{tmp_path / 'lib.envd'}:2:5: base: for parameter 'image': got range, want string"
    (tmp_path / "lib.envd").write_text('def setup():\n    x = len(1)\n')
    assert located(tmp_path, b'load("lib.envd", "setup")\ndef build():\n    setup()\n').position == Position(
        str(tmp_path / "lib.envd"), 2, 12)   # Starlark puts a call at its parenthesis
