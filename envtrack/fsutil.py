"""The one way envtrack replaces a file: write beside it, fsync, rename over it.

A reader (or a crash) sees either the old bytes or the new ones, never half a file. The
temporary file's name carries its writer's pid (`.build.envd.PID.XXXX.tmp`), so one left by
a killed command is known for an orphan and removed by the next write there (and by every
command that takes the project lock).
"""

from __future__ import annotations

import os
from pathlib import Path
TYPE_CHECKING = False   # typing.TYPE_CHECKING without importing typing (~3 ms of a cached build)
if TYPE_CHECKING:
    from typing import Callable


def write_atomic(path: str | Path, data: str | bytes, mode: int | None = None, *,
                 check: Callable[[Path], None] | None = None) -> None:
    """Replace PATH with DATA (str is written as UTF-8, newlines untouched).

    MODE: the new file's permissions; None keeps the old file's, or gives a new file the
    usual 0666 minus the umask. CHECK(temp) runs on the complete temporary file before it
    replaces PATH (it lives in PATH's directory, so relative paths resolve the same); if it
    raises, PATH is untouched.
    """
    import tempfile  # here, not at the top: commands that only read (a cached build) skip its ~8 ms

    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(path.parent, path.name)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=_TEMP_SUFFIX, dir=path.parent)
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, _mode_for(path) if mode is None else mode)
        if check is not None:
            check(temp)
        os.replace(temp, path)
        _fsync_dir(path.parent)
    finally:
        temp.unlink(missing_ok=True)


_TEMP_SUFFIX = ".tmp"


def remove_orphans(directory: Path, name: str = "") -> None:
    """Delete write_atomic's temporary files in DIRECTORY (for file NAME, or any) whose writer is dead."""
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    prefix = f".{name}." if name else "."
    for entry in entries:
        if not (entry.startswith(prefix) and entry.endswith(_TEMP_SUFFIX)):
            continue
        pid = entry[:-len(_TEMP_SUFFIX)].split(".")[-2]   # .NAME.PID.RANDOM.tmp
        if pid.isdigit() and not _alive(int(pid)):
            try:
                os.unlink(os.path.join(directory, entry))
            except OSError:
                pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True   # someone else's process
    return True


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (best effort: some filesystems refuse a directory fsync)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
