"""The project's .envtrack/: private modes and the one lock that serialises commands."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from envtrack.container.health import process_alive
from envtrack.errors import EnvtrackError
from envtrack.statedir import ensure_state_dir, project_lock

HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from envtrack.statedir import project_lock
    with project_lock(Path(sys.argv[1]), "up"):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
""")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def hold_in_child(state: Path, seconds: float) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(state), str(seconds)], stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdout.readline().strip() == "held"
    return child


def test_state_dir_is_0700_and_its_files_0600(tmp_path: Path) -> None:
    state = tmp_path / ".envtrack"
    state.mkdir(mode=0o755)
    (state / "journal.db").write_text("")
    (state / "backups").mkdir()
    (state / "backups" / "build.envd.1").write_text("")
    os.chmod(state / "journal.db", 0o644)
    ensure_state_dir(state)
    assert mode(state) == 0o700 and mode(state / "backups") == 0o700
    assert mode(state / "journal.db") == 0o600 and mode(state / "backups" / "build.envd.1") == 0o600


def test_what_a_locked_command_creates_ends_up_private(tmp_path: Path) -> None:
    state = tmp_path / ".envtrack"
    with project_lock(state, "sync"):
        (state / "build-stamp.json").write_text("{}")
        os.chmod(state / "build-stamp.json", 0o644)
    assert mode(state / "build-stamp.json") == 0o600 and mode(state / "lock") == 0o600


def test_a_second_command_waits_for_the_first_and_says_so(tmp_path: Path, capsys) -> None:
    state = tmp_path / ".envtrack"
    child = hold_in_child(state, 1.5)
    started = time.monotonic()
    with project_lock(state, "sync", timeout=30):
        waited = time.monotonic() - started
    child.wait()
    assert waited > 0.8
    assert f"waiting for `envtrack up` (pid {child.pid}) to finish" in capsys.readouterr().err


def test_a_second_command_fails_clearly_after_the_timeout(tmp_path: Path) -> None:
    state = tmp_path / ".envtrack"
    child = hold_in_child(state, 5)
    try:
        with pytest.raises(EnvtrackError, match=r"`envtrack up` \(pid \d+\) still holds .*lock after 0 s"):
            with project_lock(state, "down", timeout=0.3):
                pass
    finally:
        child.kill()
        child.wait()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    state = tmp_path / ".envtrack"
    child = hold_in_child(state, 60)
    child.kill()
    child.wait()
    with project_lock(state, "up", timeout=2):
        pass


def test_a_read_only_project_runs_without_the_lock(tmp_path: Path, monkeypatch) -> None:
    from envtrack import statedir

    def read_only(path: Path) -> Path:
        raise OSError(30, "Read-only file system")  # what a read-only mount answers, even to root

    monkeypatch.setattr(statedir, "ensure_state_dir", read_only)
    ran = []
    with project_lock(tmp_path / ".envtrack", "sync"):
        ran.append(True)
    assert ran and not (tmp_path / ".envtrack").exists()


@pytest.mark.parametrize("proc, alive", [
    (b"8 (python3) S 0 8 8 0 -1\n/usr/bin/python3\0-s\0-m\0envtrack.agent\0--state\0/envtrack-state\0", True),
    (b"8 (python3) Z 0 8 8 0 -1\n", False),                                      # a zombie has no cmdline
    (b"8 (py thon) ) Z 0 8\n/usr/bin/python3\0-m\0envtrack.agent\0", False),     # comm with spaces and parens
    (b"8 (sleep) S 1 8 8\nsleep\0infinity\0", False),                            # the pid was reused
    (b"", False),
])
def test_process_alive_reads_state_and_cmdline(proc: bytes, alive: bool) -> None:
    assert process_alive(proc) is alive
