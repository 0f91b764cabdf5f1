"""Journal schema and access. Runs on the host and, inside containers, under the agent.

Python 3.9 compatible like records.py (the agent runs it on the container's python3).
One writer (the agent); readers on the host see committed batches thanks to WAL mode.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from typing import Dict, Iterable, List, Optional

from envtrack.records import Package, PackageChange

_PACKAGE_COLUMNS = {
    "manager": str, "env": str, "name": str, "version": str, "requested": int,
    "arch": str, "source": str, "build": str, "taken_at": str,
}
_CHANGE_COLUMNS = {
    "id": int, "time": str, "manager": str, "env": str, "action": str, "name": str,
    "old_version": str, "new_version": str, "requested": int, "source": str,
    "arch": str, "build": str, "reconciled": int, "detail": str,
}


def utc_now() -> str:
    """ISO-8601 UTC with milliseconds, e.g. 2026-11-29T01:02:03.456Z."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (now.microsecond // 1000)


def open_journal(path) -> "sqlite_utils.Database":
    """Open (creating if needed) the journal at PATH, in WAL mode, with every table present."""
    import sqlite_utils  # the writer's library; readers on the host do without it (read_changes_at)

    os.makedirs(os.path.dirname(os.path.abspath(str(path))), exist_ok=True)
    db = sqlite_utils.Database(str(path))
    db.execute("PRAGMA busy_timeout = 5000")
    # WAL without an fsync per commit: a commit survives the agent or the container dying
    # (only a host power loss can drop the last batches), and installers do not wait on the disk.
    db.execute("PRAGMA synchronous = NORMAL")
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        db.enable_wal()
    _create_tables(db)
    return db


def _create_tables(db: "sqlite_utils.Database") -> None:
    if "changes" not in db.table_names():
        db["changes"].create(_CHANGE_COLUMNS, pk="id", not_null={"time", "manager", "env", "action", "name"})
        db["changes"].create_index(["time"], if_not_exists=True)
    for table in ("baseline", "inventory"):
        if table not in db.table_names():
            db[table].create(_PACKAGE_COLUMNS, pk=("manager", "env", "name"))


def _package_row(package: Package, taken_at: str) -> Dict[str, object]:
    return {
        "manager": package.manager, "env": package.env, "name": package.name,
        "version": package.version, "requested": int(package.requested), "arch": package.arch,
        "source": package.source, "build": package.build, "taken_at": taken_at,
    }


def _package_from_row(row: Dict) -> Package:
    return Package(row["manager"], row["name"], row["version"] or "", row["env"], bool(row["requested"]),
                   arch=row["arch"] or "", source=row["source"] or "", build=row["build"] or "")


def change_row(change: PackageChange, *, time: str, reconciled: bool = False,
               detail: Optional[Dict[str, object]] = None) -> Dict[str, object]:
    return {
        "time": time, "manager": change.manager, "env": change.env, "action": change.action,
        "name": change.name, "old_version": change.old_version, "new_version": change.new_version,
        "requested": int(change.requested), "source": change.source, "arch": change.arch,
        "build": change.build, "reconciled": int(reconciled),
        "detail": json.dumps(detail or {}, sort_keys=True),
    }


def has_baseline(db: "sqlite_utils.Database") -> bool:
    return db["baseline"].count > 0


def read_packages(db: "sqlite_utils.Database", table: str) -> List[Package]:
    return [_package_from_row(row) for row in db[table].rows]


def replace_packages(db: "sqlite_utils.Database", table: str, packages: Iterable[Package], taken_at: str) -> None:
    """Replace TABLE's content; call inside the batch's transaction."""
    db.execute("DELETE FROM [%s]" % table)
    db[table].insert_all((_package_row(p, taken_at) for p in packages), batch_size=500)


def record_batch(db: "sqlite_utils.Database", rows: List[Dict[str, object]],
                 live: Optional[List[Package]] = None, *, time: Optional[str] = None) -> None:
    """One transaction: the change rows, and the live inventory they lead to."""
    with db.conn:
        if rows:
            db["changes"].insert_all(rows)
        if live is not None:
            replace_packages(db, "inventory", live, time or utc_now())


def read_changes(db: "sqlite_utils.Database", since_id: int = 0) -> List[Dict]:
    """Changes with id > SINCE_ID, oldest first; `detail` decoded, flags as bools."""
    return _decoded(db.query(_CHANGES_SINCE, [since_id]))


def read_changes_at(path, since_id: int = 0) -> List[Dict]:
    """read_changes on the journal at PATH, opened read-only (the agent is the one writer);
    [] when it has no changes table yet."""
    import sqlite3

    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout = 5000")
        try:
            return _decoded(db.execute(_CHANGES_SINCE, [since_id]))
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):
                return []
            raise
    finally:
        db.close()


_CHANGES_SINCE = "SELECT * FROM changes WHERE id > ? ORDER BY id"


def _decoded(found) -> List[Dict]:
    rows = []
    for row in found:
        row = dict(row)
        row["requested"] = bool(row["requested"])
        row["reconciled"] = bool(row["reconciled"])
        try:
            row["detail"] = json.loads(row["detail"] or "{}")
        except ValueError:
            row["detail"] = {}
        rows.append(row)
    return rows
