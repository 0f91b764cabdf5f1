"""The journal's schema and every access to it: with row.py (the rows, whose fields are the
tables' columns) the only module that knows table and column names.

Ships into containers (the agent writes the journal), so: standard library only, Python 3.8
syntax. The host reads the same file through these functions. One writer (the agent);
readers see committed batches thanks to WAL mode.

The schema has a version (`PRAGMA user_version`). A long-lived container may run an agent
bundle older than the host's envtrack, so every opener checks it: an older journal is
migrated in place, a newer one is refused with a sentence saying which versions met.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timezone
from typing import Callable, Dict, Iterable, List, Optional, Tuple, TypeVar
from urllib.parse import quote

from envtrack.journal import row as tables
from envtrack.journal.row import Change, PackageRow
from envtrack.journal.schema import SCHEMA_VERSION, newer_schema_message
from envtrack.records import Package

BUSY_TIMEOUT_MS = 10000   # the agent may be writing at the same moment

PACKAGE_TABLES = ("baseline", "inventory")   # their rows: row.PackageRow
_SCHEMA = tables.TABLE_SQL + """CREATE INDEX IF NOT EXISTS idx_changes_time ON changes (time);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS sync_state (
    envd_file TEXT PRIMARY KEY, last_change_id INTEGER NOT NULL,
    last_change_time TEXT NOT NULL,   -- to notice a journal that was emptied and started over
    synced_at TEXT NOT NULL);
""" + "".join(tables.package_table_sql(name) for name in PACKAGE_TABLES)


T = TypeVar("T")


class JournalError(Exception):
    """The journal cannot be used by this code (a newer schema, a damaged file)."""


def utc_now() -> str:
    """ISO-8601 UTC with milliseconds, e.g. 2026-11-29T01:02:03.456Z."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (now.microsecond // 1000)


def open_journal(path) -> sqlite3.Connection:
    """Open (creating or migrating if needed) the journal at PATH, in WAL mode."""
    folder = os.path.dirname(os.path.abspath(str(path)))
    os.makedirs(folder, exist_ok=True)
    try:
        db = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000.0)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout = %d" % BUSY_TIMEOUT_MS)
        # WAL without an fsync per commit: a commit survives the agent or the container dying
        # (only a host power loss can drop the last batches), and installers do not wait on the disk.
        db.execute("PRAGMA synchronous = NORMAL")
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            db.execute("PRAGMA journal_mode = wal")
        _migrate(db, str(path))
    except sqlite3.DatabaseError as error:
        # A WAL journal needs its -shm file beside it: in a read-only folder SQLite only says
        # it cannot open the file, so say why.
        why = "" if os.access(folder, os.W_OK) else "; its folder is read-only"
        raise JournalError("%s: cannot use the journal (%s%s)" % (path, error, why)) from None
    return db


def schema_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def _migrate(db: sqlite3.Connection, where: str) -> None:
    version = schema_version(db)
    if version > SCHEMA_VERSION:
        db.close()
        raise JournalError(newer_schema_message(where, version))
    if version < SCHEMA_VERSION:
        db.executescript("BEGIN;" + _SCHEMA + "PRAGMA user_version = %d; COMMIT;" % SCHEMA_VERSION)


# --------------------------------------------------------------------------- whole-file copies


# The same copy for a container's own python3 (`python3 -c COPY_SCRIPT JOURNAL TARGET`), where
# this package may not be: how the host fetches a live journal from a remote Engine's volume.
COPY_SCRIPT = ("import sqlite3,sys;s=sqlite3.connect(sys.argv[1]);d=sqlite3.connect(sys.argv[2]);"
               "s.backup(d);d.close();s.close()")


def copy_consistent(source, target) -> None:
    """A consistent copy of the journal at SOURCE in TARGET: SQLite's backup folds a WAL in,
    whatever state the files were copied in."""
    source_db, target_db = sqlite3.connect(str(source)), sqlite3.connect(str(target))
    try:
        source_db.backup(target_db)
    finally:
        target_db.close()
        source_db.close()


# --------------------------------------------------------------------------- packages


def _table(table: str) -> str:
    if table not in PACKAGE_TABLES:
        raise ValueError("no package table %r" % table)
    return table


def has_baseline(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM baseline LIMIT 1").fetchone() is not None


def read_packages(db: sqlite3.Connection, table: str) -> List[Package]:
    found = db.execute(tables.package_select_sql(_table(table)) + " ORDER BY rowid")
    return [PackageRow.from_sql(record).package() for record in found]


def count_packages(db: sqlite3.Connection, table: str) -> Dict[str, int]:
    """Packages in TABLE per manager."""
    query = "SELECT manager, COUNT(*) FROM %s GROUP BY manager" % _table(table)
    return {row[0]: row[1] for row in db.execute(query)}


def replace_packages(db: sqlite3.Connection, table: str, packages: Iterable[Package], taken_at: str) -> None:
    """Replace TABLE's content; call inside the batch's transaction."""
    db.execute("DELETE FROM %s" % _table(table))
    db.executemany(tables.package_insert_sql(table), (PackageRow.of(p, taken_at).to_sql() for p in packages))


def take_baseline(db: sqlite3.Connection, live: List[Package], container: str, time: str) -> None:
    """A new container: its packages are the baseline and the inventory; no changes yet."""
    with db:
        replace_packages(db, "baseline", live, time)
        replace_packages(db, "inventory", live, time)
        set_meta(db, "container", container)


# --------------------------------------------------------------------------- changes


def record_batch(db: sqlite3.Connection, rows: List[Change],
                 live: Optional[List[Package]] = None, *, time: Optional[str] = None) -> None:
    """One transaction: the change rows, and the live inventory they lead to. The one way rows
    get into the journal."""
    with db:
        if rows:
            db.executemany(tables.INSERT_SQL, [row.to_sql() for row in rows])
        if live is not None:
            replace_packages(db, "inventory", live, time or utc_now())


def read_changes(db: sqlite3.Connection, since_id: int = 0) -> List[Change]:
    """Changes with id > SINCE_ID, oldest first, as typed rows (see Change.from_sql: redacted
    again, since an older agent's journal may hold credentials): every reader, `log` and sync
    alike, gets its rows from here."""
    found = db.execute(tables.SELECT_SQL + " WHERE id > ? ORDER BY id", (since_id,))
    return [Change.from_sql(record) for record in found]


def open_readonly(path) -> sqlite3.Connection:
    """The journal at PATH for reading only (a read-only project, a dry run); never creates,
    migrates or writes. Tables an older journal lacks raise sqlite3.OperationalError."""
    try:
        db = sqlite3.connect(_uri(path, "mode=ro"), uri=True)
        db.execute("PRAGMA busy_timeout = 5000")
        try:
            db.execute("PRAGMA schema_version").fetchone()
        except sqlite3.OperationalError as error:
            if "readonly" not in str(error) and os.access(os.path.dirname(os.path.abspath(str(path))), os.W_OK):
                raise
            # A WAL journal in a read-only directory: SQLite cannot make the -shm file a reader
            # needs (it says "readonly" or "unable to open database file"). Nobody can be
            # writing there, so read the file as it is.
            db.close()
            db = sqlite3.connect(_uri(path, "immutable=1"), uri=True)
        version = schema_version(db)
    except sqlite3.Error as error:
        raise JournalError("%s: cannot use the journal (%s)" % (path, error)) from None
    if version > SCHEMA_VERSION:
        db.close()
        raise JournalError(newer_schema_message(path, version))
    db.row_factory = sqlite3.Row
    return db


def _uri(path, query: str) -> str:
    """An SQLite file: URI for PATH: `#`, `?` and `%` in a directory name are data, not URI syntax
    (unquoted, `?` would start the query and SQLite would open, and create, another file)."""
    return "file:%s?%s" % (quote(os.path.abspath(str(path)), safe="/"), query)


def query(path, read: Callable[[sqlite3.Connection], T], default: T) -> T:
    """READ(db) on the journal at PATH, opened read-only: the one way the host reads it.

    DEFAULT when there is no journal yet, or it predates the table READ needs (an older
    agent's: nothing of that kind was recorded); JournalError, naming the file, for a newer
    schema or a damaged file. Read-only, so a read-only project and a dry run can read too.
    """
    if not os.path.exists(str(path)):
        return default
    db = open_readonly(path)
    try:
        return read(db)
    except sqlite3.OperationalError as error:
        if "no such table" in str(error):
            return default
        raise JournalError("%s: cannot use the journal (%s)" % (path, error)) from None
    except sqlite3.DatabaseError as error:
        raise JournalError("%s: cannot use the journal (%s)" % (path, error)) from None
    finally:
        db.close()


def read_changes_at(path, since_id: int = 0) -> List[Change]:
    """read_changes on the journal at PATH (see query); [] when nothing was recorded yet."""
    return query(path, lambda db: read_changes(db, since_id), [])


def change_counts(db: sqlite3.Connection) -> Dict[str, int]:
    row = db.execute("SELECT COUNT(*), COALESCE(SUM(requested), 0), COALESCE(SUM(reconciled), 0) "
                     "FROM changes").fetchone()
    return {"total": row[0], "requested": row[1], "reconciled": row[2]}


def has_change(db: sqlite3.Connection, change_id: int, time: Optional[str]) -> bool:
    """Whether change CHANGE_ID, recorded at TIME, is still this journal's (not one that started over)."""
    found = db.execute("SELECT 1 FROM changes WHERE id = ? AND time IS ?", (change_id, time)).fetchone()
    return found is not None


# --------------------------------------------------------------------------- meta and sync's bookmark


def get_meta(db: sqlite3.Connection, key: str) -> Optional[str]:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
    db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
               (key, value))


def set_recorder(db: sqlite3.Connection, recorder: str) -> None:
    """Who keeps this journal: "agent" (live) or "host" (reconciles at `up` and `sync`)."""
    with db:
        set_meta(db, "recorder", recorder)


def recorder(db: sqlite3.Connection) -> Optional[str]:
    return get_meta(db, "recorder")


def read_bookmark(db: sqlite3.Connection, envd_file: str) -> Optional[Tuple[int, str]]:
    """Sync's bookmark for ENVD_FILE: (last change id written back, that change's time)."""
    row = db.execute("SELECT last_change_id, last_change_time FROM sync_state WHERE envd_file = ?",
                     (envd_file,)).fetchone()
    return None if row is None else (int(row[0]), row[1])


def read_bookmarks(db: sqlite3.Connection) -> List[Tuple[str, int, str]]:
    """Every envd file's bookmark: (envd_file, last change id, that change's time)."""
    return [(r[0], int(r[1]), r[2]) for r in
            db.execute("SELECT envd_file, last_change_id, last_change_time FROM sync_state ORDER BY envd_file")]


def write_bookmark(db: sqlite3.Connection, envd_file: str, change_id: int, change_time: Optional[str]) -> None:
    with db:
        db.execute("INSERT INTO sync_state (envd_file, last_change_id, last_change_time, synced_at) "
                   "VALUES (?, ?, ?, ?) ON CONFLICT(envd_file) DO UPDATE SET "
                   "last_change_id = excluded.last_change_id, last_change_time = excluded.last_change_time, "
                   "synced_at = excluded.synced_at",
                   (envd_file, change_id, change_time or "", utc_now()))
