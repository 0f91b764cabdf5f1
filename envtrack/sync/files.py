"""Replace build.envd safely: validate, back up, write atomically (the I/O side of sync)."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

from envtrack.errors import EnvtrackError
from envtrack.fsutil import write_atomic


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
    loads relative to it resolve the same.
    """
    def check(temp: Path) -> None:
        validate(temp)
        if path.read_bytes() != expected_old.encode("utf-8"):
            raise EnvtrackError(f"{path} changed while sync was running; nothing written, run sync again")

    write_atomic(path, new_text, check=check)
