"""sync (and up) on a damaged or read-only project: one line and an exit code, never a
traceback, and build.envd byte for byte as it was."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, run_cli

CHANGES_SCHEMA = """
CREATE TABLE changes (id INTEGER PRIMARY KEY, time TEXT, manager TEXT, env TEXT, action TEXT, name TEXT,
    old_version TEXT, new_version TEXT, requested INTEGER, source TEXT, arch TEXT, build TEXT,
    reconciled INTEGER, detail TEXT)
"""


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    shutil.copyfile(ROOT / "examples" / "quickstart" / "build.envd", tmp_path / "build.envd")
    (tmp_path / ".envtrack").mkdir()
    with sqlite3.connect(tmp_path / ".envtrack" / "journal.db") as db:
        db.execute(CHANGES_SCHEMA)
        db.execute("INSERT INTO changes (time, manager, env, action, name, new_version, requested, source, detail)"
                   " VALUES ('2026-11-29T01:00:00.000Z', 'pip', '/usr/local/lib/python3.11/dist-packages',"
                   " 'install', 'tomli', '2.0.1', 1, '', '')")
    return tmp_path


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    assert len(stderr.splitlines()) == 1, stderr
    return stderr


def test_a_garbage_journal_is_one_line(project: Path) -> None:
    (project / ".envtrack" / "journal.db").write_bytes(b"this is not SQLite" * 100)
    before = (project / "build.envd").read_bytes()
    proc = run_cli("sync", str(project))
    assert proc.returncode == 1
    assert "journal.db: cannot use the journal (file is not a database)" in one_line(proc.stderr)
    assert (project / "build.envd").read_bytes() == before


def test_a_non_utf8_build_envd_is_located(project: Path) -> None:
    envd = project / "build.envd"
    envd.write_bytes(b'def build():\n    run(commands=["caf\xe9"])\n')
    proc = run_cli("sync", str(project))
    assert proc.returncode == 2
    assert one_line(proc.stderr) == f"{envd}:2:23: not UTF-8 text (invalid continuation byte)\n"
    assert envd.read_bytes() == b'def build():\n    run(commands=["caf\xe9"])\n'


def read_only(project: Path, *command: str) -> subprocess.CompletedProcess:
    """COMMAND run with PROJECT mounted read-only, in a private mount namespace (gone afterwards)."""
    script = ('mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@"')
    return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(project), sys.executable, "-m", "envtrack",
                           *command], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("options", [(), ("--dry-run",)])
def test_sync_in_a_read_only_project_is_one_line_and_changes_nothing(project: Path, options: tuple) -> None:
    # The journal's opener writes (WAL, schema) even to read, so a dry run refuses too.
    before = (project / "build.envd").read_bytes()
    proc = read_only(project, "sync", *options, str(project))
    assert proc.returncode == 1
    line = one_line(proc.stderr)
    assert "readonly database" in line or "Read-only file system" in line
    assert (project / "build.envd").read_bytes() == before
    assert not (project / ".envtrack" / "backups").exists()


def test_up_in_a_read_only_project_refuses_before_building(project: Path) -> None:
    shutil.rmtree(project / ".envtrack")
    proc = read_only(project, "up", str(project))
    assert proc.returncode == 1
    assert "envtrack up needs to write" in one_line(proc.stderr)
