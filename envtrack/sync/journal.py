"""Read the change journal and keep sync's own bookmark in it (the I/O side of sync).

The journal belongs to the agent (envtrack.journal); sync only reads `changes` and
owns one table, `sync_state`: per envd file, the last change id already written back.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SYNC_STATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS sync_state (
    envd_file TEXT PRIMARY KEY,
    last_change_id INTEGER NOT NULL,
    last_change_time TEXT NOT NULL,   -- to notice a journal that was emptied and started over
    synced_at TEXT NOT NULL
)
"""
BUSY_TIMEOUT_SECONDS = 10   # the agent may be writing at the same moment


def read_changes_since(journal: Path, since_id: int) -> list[dict[str, Any]]:
    """Journal rows with id > SINCE_ID, oldest first; [] when nothing was recorded yet."""
    if not journal.exists():
        return []
    from envtrack.journal.db import read_changes_at  # the schema's owner; read-only, no sqlite_utils
    from envtrack.journal.history import redacted

    return [redacted(row) for row in read_changes_at(journal, since_id)]


def last_synced_id(journal: Path, envd_file: Path) -> int:
    """The bookmark; 0 when the bookmarked change is no longer the journal's (it started over)."""
    if not journal.exists():
        return 0
    with closing(_connect(journal)) as db:
        if not _has_table(db, "sync_state"):
            return 0
        row = db.execute("SELECT last_change_id, last_change_time FROM sync_state WHERE envd_file = ?",
                         (str(envd_file),)).fetchone()
        if row is None or not _has_table(db, "changes"):
            return 0
        change_id, change_time = int(row[0]), row[1]
        still_there = db.execute("SELECT 1 FROM changes WHERE id = ? AND time IS ?", (change_id, change_time)).fetchone()
        return change_id if still_there else 0


def mark_synced(journal: Path, envd_file: Path, change_id: int, change_time: str | None) -> None:
    """Remember that every change up to CHANGE_ID (recorded at CHANGE_TIME) is now in ENVD_FILE."""
    journal.parent.mkdir(parents=True, exist_ok=True)
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    with closing(_connect(journal)) as db, db:
        db.execute(SYNC_STATE_SCHEMA)
        db.execute(
            "INSERT INTO sync_state (envd_file, last_change_id, last_change_time, synced_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(envd_file) DO UPDATE SET last_change_id = excluded.last_change_id, "
            "last_change_time = excluded.last_change_time, synced_at = excluded.synced_at",
            (str(envd_file), change_id, change_time or "", now),
        )


def _connect(journal: Path) -> sqlite3.Connection:
    return sqlite3.connect(journal, timeout=BUSY_TIMEOUT_SECONDS)


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None
