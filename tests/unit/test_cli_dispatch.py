"""The framework-free dispatcher, the help text and the typer app all read one option table."""

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import run_cli
from envtrack.cli import dispatch, main
from envtrack.cli.table import BY_NAME, COMMANDS
from envtrack.engine import wire


def parse(name, *words):
    return dispatch.parse(BY_NAME[name], list(words))


def test_plain_build_command_lines_are_parsed_here():
    defaults = {"builder": None, "bake_ca": False, "pull": False, "cache_to": None, "cache_from": None}
    assert parse("build") == {"file": None, "progress": "auto", **defaults, "as_json": False}
    assert parse("build", "proj", "--progress", "plain", "--json") == {
        "file": "proj", "progress": "plain", **defaults, "as_json": True}
    assert parse("build", "--progress=quiet", "--builder", "unix:///x")["builder"] == "unix:///x"
    assert parse("build", "--bake-ca")["bake_ca"] is True
    assert parse("build", "--pull")["pull"] is True
    assert parse("build", "--export-cache", "r:1/c:1")["cache_to"] == "r:1/c:1"


def test_anything_unusual_is_left_to_the_framework():
    for words in (["a", "b"], ["--progress"], ["--no-such"], ["--json=1"], ["--", "x"]):
        assert parse("build", *words) is None, words
    assert parse("diff", "only-a") is None          # a required argument is missing


def test_negations_short_flags_and_env_defaults(monkeypatch):
    assert parse("up", "--no-build", "--no-host-ca")["build"] is False
    assert parse("up")["host_ca"] is True
    assert parse("status", "-f", "dir", "--json") == {"file": "dir", "as_json": True}
    monkeypatch.setenv("ENVTRACK_BUILDKIT_HOST", "tcp://127.0.0.1:1")
    assert parse("build")["builder"] == "tcp://127.0.0.1:1"
    assert parse("build", "--builder", "unix:///y")["builder"] == "unix:///y"


def test_exec_takes_the_rest_after_dashes_or_the_first_word():
    assert parse("exec", "--", "pip", "install", "-q", "x") == {"file": None, "root": False,
                                                              "command": ["pip", "install", "-q", "x"]}
    assert parse("exec", "-f", "d", "ls", "-f") == {"file": "d", "root": False, "command": ["ls", "-f"]}
    assert parse("exec") == {"file": None, "root": False, "command": []}


def test_subcommands_are_found_by_their_two_words():
    command, rest = dispatch.find_command(["engine", "setup", "--engine-only"])
    assert command.name == "engine setup" and rest == ["--engine-only"]
    assert dispatch.find_command(["frobnicate"]) is None


def test_help_is_drawn_from_the_table():
    text = dispatch.app_help()
    for command in ("doctor", "engine", "plan", "build", "up", "sync", "snapshot", "diff", "exec"):
        assert f"\n  {command} " in text
    sync_help = dispatch.command_help(BY_NAME["sync"])
    for flag in ("--dry-run", "--pin VALUE", "--yes, -y", "FILE"):
        assert flag in sync_help
    assert "--host-ca / --no-host-ca" in dispatch.command_help(BY_NAME["up"])


def test_the_typer_app_has_exactly_the_table_options():
    import typer.main

    from envtrack.cli.app import app

    group = typer.main.get_command(app)
    for command in COMMANDS:
        click_command = group
        for word in command.name.split():
            click_command = click_command.commands[word]
        declared = {p.name: p for p in click_command.params if p.name != "ctx"}
        assert set(declared) == {o.dest for o in command.options}, command.name
        for option in command.options:
            if option.flags:
                assert set(option.flags) <= set(declared[option.dest].opts), (command.name, option.dest)


def test_command_help_and_bad_flags_through_the_real_entry_point():
    proc = run_cli("sync", "--help")
    assert proc.returncode == 0 and "--dry-run" in proc.stdout
    proc = run_cli("status", "--no-such-flag")
    assert proc.returncode == 2 and "--no-such-flag" in proc.stderr


def test_a_bug_prints_one_line_and_saves_the_traceback(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    def broken(argv):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(dispatch, "dispatch", broken)
    with pytest.raises(SystemExit) as leaving:
        main(["status"])
    assert leaving.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[0] == "envtrack: internal error: ZeroDivisionError: division by zero"
    saved = list((tmp_path / "envtrack" / "crashes").iterdir())
    assert len(saved) == 1 and "Traceback" in saved[0].read_text() and str(saved[0]) in err


def test_an_envtrack_error_is_its_report_and_exit_code(tmp_path, capsys):
    with pytest.raises(SystemExit) as leaving:
        main(["status", "-f", str(tmp_path / "nowhere")])
    assert leaving.value.code == 2
    assert capsys.readouterr().err == f"envtrack: {tmp_path / 'nowhere'}: no such envd file\n"


def _serve(answer: bytes):
    mine, theirs = socket.socketpair()

    def reply():
        data = b""
        while b"\r\n\r\n" not in data:
            data += theirs.recv(65536)
        theirs.sendall(answer)
        theirs.close()

    threading.Thread(target=reply, daemon=True).start()
    return mine


@pytest.mark.parametrize("answer, body", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", b"hello"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;x=1\r\nlo\r\n0\r\n\r\n", b"hello"),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n\r\nhello", b"hello"),
])
def test_wire_reads_the_three_ways_an_answer_ends(answer, body):
    sock = _serve(answer)
    status, headers, data = wire.exchange(sock, "GET", "/x")
    assert data == body and status in (200, 201)


def test_wire_refuses_what_is_not_http():
    with pytest.raises(wire.ProtocolError):
        wire.exchange(_serve(b"SSH-2.0-OpenSSH\r\n\r\n"), "GET", "/x")


LEAVE_EARLY_CHECK = """
import atexit, threading
from envtrack.cli import _nothing_left_to_finish as nothing_left
seen = [nothing_left()]
stop = threading.Event()
worker = threading.Thread(target=stop.wait)
worker.start()
seen.append(nothing_left())
stop.set()
worker.join()
seen.append(nothing_left())
atexit.register(lambda: None)
seen.append(nothing_left())
print(seen)
"""


def test_exec_leaves_without_the_shutdown_only_when_nothing_is_left_to_finish():
    # -S: without site's .pth hooks (one may register an atexit handler of its own)
    out = subprocess.run([sys.executable, "-S", "-c", LEAVE_EARLY_CHECK], cwd=Path(__file__).resolve().parents[2],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[True, False, True, False]"   # bare; a second thread; bare again; an atexit handler
