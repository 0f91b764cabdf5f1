"""Replace build.envd safely: validate, back up, write atomically (the I/O side of sync)."""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from envtrack.errors import EnvtrackError


def backup(path: Path, backups_dir: Path) -> Path:
    """Copy PATH to BACKUPS_DIR/<name>.<UTC timestamp> and return the copy's path."""
    backups_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    target = backups_dir / f"{path.name}.{stamp}"
    shutil.copy2(path, target)
    return target


def replace_validated(path: Path, expected_old: str, new_text: str, validate) -> None:
    """Write NEW_TEXT over PATH atomically, after VALIDATE(temp_path) accepts it.

    Refuses when PATH no longer holds EXPECTED_OLD (edited while sync was working), so a
    concurrent edit is never overwritten. The temp file lives in PATH's directory, so
    loads relative to it resolve the same and os.replace stays on one filesystem.
    """
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".sync", dir=path.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(new_text)
            handle.flush()
            os.fsync(handle.fileno())
        shutil.copymode(path, temp)
        validate(temp)
        if path.read_bytes().decode("utf-8") != expected_old:
            raise EnvtrackError(f"{path} changed while sync was running; nothing written, run sync again")
        os.replace(temp, path)
        _fsync_dir(path.parent)
    finally:
        temp.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
