"""Sync's view of the change journal: the rows to write back, and its own bookmark.

The journal's tables and columns belong to `envtrack.journal.db`; this module only opens
the project's journal through it.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Any

from envtrack.journal import db as journal_db


def _open(journal: Path):
    return closing(journal_db.open_journal(journal))   # JournalError: sync.service says it in one line


def read_changes_since(journal: Path, since_id: int) -> list[dict[str, Any]]:
    """Journal rows with id > SINCE_ID, oldest first; [] when nothing was recorded yet."""
    if not journal.exists():
        return []
    from envtrack.journal.history import redacted

    return [redacted(row) for row in journal_db.read_changes_at(journal, since_id)]


def last_synced_id(journal: Path, envd_file: Path) -> int:
    """The bookmark; 0 when the bookmarked change is no longer the journal's (it started over)."""
    if not journal.exists():
        return 0
    with _open(journal) as db:
        mark = journal_db.read_bookmark(db, str(envd_file))
        if mark is None:
            return 0
        return mark[0] if journal_db.has_change(db, *mark) else 0


def mark_synced(journal: Path, envd_file: Path, change_id: int, change_time: str | None) -> None:
    """Remember that every change up to CHANGE_ID (recorded at CHANGE_TIME) is now in ENVD_FILE."""
    with _open(journal) as db:
        journal_db.write_bookmark(db, str(envd_file), change_id, change_time)
