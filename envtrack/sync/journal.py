"""Sync's view of the change journal: the rows to write back, and its own bookmark.

The journal's tables and columns belong to `envtrack.journal.db`; this module only opens
the project's journal through it.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from envtrack.journal import db as journal_db
from envtrack.journal.row import Change


def _open(journal: Path):
    return closing(journal_db.open_journal(journal))   # JournalError: sync.service says it in one line


def read_changes_since(journal: Path, since_id: int) -> list[Change]:
    """Journal rows with id > SINCE_ID, oldest first (redacted); [] when nothing was recorded yet."""
    return journal_db.read_changes_at(journal, since_id)


def last_synced_id(journal: Path, envd_file: Path) -> int:
    """The bookmark; 0 when the bookmarked change is no longer the journal's (it started over)."""
    def bookmarked(db) -> int:  # noqa: ANN001
        mark = journal_db.read_bookmark(db, str(envd_file))
        return mark[0] if mark is not None and journal_db.has_change(db, *mark) else 0

    return journal_db.query(journal, bookmarked, 0)


def mark_synced(journal: Path, envd_file: Path, change_id: int, change_time: str | None) -> None:
    """Remember that every change up to CHANGE_ID (recorded at CHANGE_TIME) is now in ENVD_FILE."""
    with _open(journal) as db:
        journal_db.write_bookmark(db, str(envd_file), change_id, change_time)
