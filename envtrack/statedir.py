"""The project's `.envtrack/` directory on the host: private modes, and one lock per project.

Commands that change the environment or the project's files (`up`, `down`, `sync`,
`snapshot`) take the lock, so two at once run one after the other instead of racing on
the container, the journal bookmark or build.envd. The lock is `flock(2)` on a file: the
kernel drops it when its holder dies, so a killed command never leaves a stale lock (a forked
child, which shares the lock, is killed with its parent: frontend/bounded.py).
"""

from __future__ import annotations

import errno
import fcntl
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from envtrack.agent.layout import STATE_DIR_MODE, STATE_FILE_MODE
from envtrack.errors import EnvtrackError
from envtrack.fsutil import remove_orphans

LOCK_NAME = "lock"
LOCK_TIMEOUT_ENV = "ENVTRACK_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 900.0   # longer than a cold build of a large project
_POLL_SECONDS = 0.2


def ensure_state_dir(state_dir: Path) -> Path:
    """Create STATE_DIR (0700) if needed and make what is in it private (files 0600)."""
    state_dir.mkdir(mode=STATE_DIR_MODE, parents=True, exist_ok=True)
    secure(state_dir)
    return state_dir


def secure(state_dir: Path) -> None:
    """Directories 0700 and files 0600 under STATE_DIR, where this user may change them."""
    if not state_dir.is_dir():
        return
    _chmod(state_dir, STATE_DIR_MODE)
    for current, dirs, files in os.walk(state_dir):
        for name in dirs:
            _chmod(Path(current, name), STATE_DIR_MODE)
        for name in files:
            _chmod(Path(current, name), STATE_FILE_MODE)


def _chmod(path: Path, mode: int) -> None:
    try:
        found = path.lstat()
        if not path.is_symlink() and found.st_mode & 0o777 != mode:
            os.chmod(path, mode)
    except OSError:
        pass  # not ours (the agent hands its files over on its next heartbeat) or gone


def _lock_timeout() -> float:
    try:
        return float(os.environ.get(LOCK_TIMEOUT_ENV, DEFAULT_LOCK_TIMEOUT))
    except ValueError:
        return DEFAULT_LOCK_TIMEOUT


@contextmanager
def project_lock(state_dir: Path, command: str, timeout: float | None = None) -> Iterator[None]:
    """Hold the project's lock while COMMAND runs; wait for another holder (saying so) up to TIMEOUT."""
    path = state_dir / LOCK_NAME
    try:
        ensure_state_dir(state_dir)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, STATE_FILE_MODE)
    except OSError as error:
        if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            yield  # a read-only project: nobody writes its state here, so there is nothing to serialise
            return
        raise EnvtrackError(f"cannot open the project lock {path}: {error.strerror}") from None
    try:
        _acquire(fd, path, command, _lock_timeout() if timeout is None else timeout)
        for directory in (state_dir.parent, state_dir):   # what a killed command left half-written
            remove_orphans(directory)
        os.ftruncate(fd, 0)
        os.write(fd, f"{command} {os.getpid()}\n".encode())
        yield
    finally:
        secure(state_dir)  # what the command created (stamp, backups) is private too
        os.close(fd)  # closing drops the flock


def _acquire(fd: int, path: Path, command: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    said = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        holder = _holder(path)
        if time.monotonic() >= deadline:
            raise EnvtrackError(f"{holder} still holds {path} after {timeout:.0f} s",
                                hint=f"wait for it to finish, or raise {LOCK_TIMEOUT_ENV}")
        if not said:
            print(f"envtrack: waiting for {holder} to finish with this project", file=sys.stderr)
            said = True
        time.sleep(_POLL_SECONDS)


def _holder(path: Path) -> str:
    """`envtrack up (pid 123)` from the lock file, as its holder wrote it."""
    try:
        words = path.read_text().split()
    except OSError:
        words = []
    return f"`envtrack {words[0]}` (pid {words[1]})" if len(words) == 2 else "another envtrack command"
