"""sync (and up) on a damaged or read-only project: one line and an exit code, never a
traceback, and build.envd byte for byte as it was."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from test_sync_cli import project, record  # noqa: F401 - `project` is a fixture



@pytest.fixture()
def pending(project: Path) -> Path:
    """test_sync_cli's project, with one requested install waiting to be synced."""
    record(project, ("pip", "install", "tomli", None, "2.0.1", 1))
    return project


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    assert len(stderr.splitlines()) == 1, stderr
    return stderr


def test_a_garbage_journal_is_one_line(pending: Path) -> None:
    (pending / ".envtrack" / "journal.db").write_bytes(b"this is not SQLite" * 100)
    before = (pending / "build.envd").read_bytes()
    proc = run_cli("sync", str(pending))
    assert proc.returncode == 1
    assert "journal.db: cannot use the journal (file is not a database)" in one_line(proc.stderr)
    assert (pending / "build.envd").read_bytes() == before


def test_a_non_utf8_build_envd_is_located(pending: Path) -> None:
    envd = pending / "build.envd"
    envd.write_bytes(b'def build():\n    run(commands=["caf\xe9"])\n')
    proc = run_cli("sync", str(pending))
    assert proc.returncode == 2
    assert one_line(proc.stderr) == f"{envd}:2:23: not UTF-8 text (invalid continuation byte)\n"
    assert envd.read_bytes() == b'def build():\n    run(commands=["caf\xe9"])\n'


def read_only(pending: Path, *command: str) -> subprocess.CompletedProcess:
    """COMMAND run with PROJECT mounted read-only, in a private mount namespace (gone afterwards)."""
    script = ('mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@"')
    return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(pending), sys.executable, "-m", "envtrack",
                           *command], capture_output=True, text=True, timeout=120)


def test_sync_in_a_read_only_project_is_one_line_and_changes_nothing(pending: Path) -> None:
    before = (pending / "build.envd").read_bytes()
    proc = read_only(pending, "sync", str(pending))
    assert proc.returncode == 1
    line = one_line(proc.stderr)
    assert "readonly database" in line or "Read-only file system" in line or "folder is read-only" in line
    assert (pending / "build.envd").read_bytes() == before
    assert not (pending / ".envtrack" / "backups").exists()


def test_a_dry_run_in_a_read_only_project_shows_the_diff_and_changes_nothing(pending: Path) -> None:
    # sync reads the journal read-only, so looking needs no write access.
    before = (pending / "build.envd").read_bytes()
    proc = read_only(pending, "sync", "--dry-run", str(pending))
    assert proc.returncode == 0, proc.stderr
    assert '+    install.python_packages(name=["tomli==2.0.1"])' in proc.stdout
    assert (pending / "build.envd").read_bytes() == before
    assert not (pending / ".envtrack" / "backups").exists()


def test_up_in_a_read_only_project_refuses_before_building(pending: Path) -> None:
    shutil.rmtree(pending / ".envtrack")
    proc = read_only(pending, "up", str(pending))
    assert proc.returncode == 1
    assert "envtrack up needs to write" in one_line(proc.stderr)
