"""The journal's schema version: old journals migrate in place, newer ones are refused clearly."""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path

import pytest

from envtrack.agent.inotify import IN_CREATE, IN_ISDIR, parse_events
from envtrack.journal import db as journal_db


def test_a_new_journal_carries_the_schema_version(tmp_path: Path) -> None:
    db = journal_db.open_journal(tmp_path / "journal.db")
    assert journal_db.schema_version(db) == journal_db.SCHEMA_VERSION
    assert journal_db.change_counts(db) == {"total": 0, "requested": 0, "reconciled": 0}


def test_an_unversioned_journal_of_an_older_agent_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with sqlite3.connect(path) as old:   # what agents before the version number wrote
        old.execute("CREATE TABLE [changes] ([id] INTEGER PRIMARY KEY, [time] TEXT NOT NULL, [manager] TEXT NOT NULL,"
                    " [env] TEXT NOT NULL, [action] TEXT NOT NULL, [name] TEXT NOT NULL, [old_version] TEXT,"
                    " [new_version] TEXT, [requested] INTEGER, [source] TEXT, [arch] TEXT, [build] TEXT,"
                    " [reconciled] INTEGER, [detail] TEXT)")
        old.execute("INSERT INTO changes (time, manager, env, action, name, new_version, requested, reconciled, detail)"
                    " VALUES ('2026-11-29T01:00:00.000Z', 'pip', '/x', 'install', 'tomli', '2.0.1', 1, 0, '{}')")
    db = journal_db.open_journal(path)
    assert journal_db.schema_version(db) == journal_db.SCHEMA_VERSION
    assert [r.name for r in journal_db.read_changes(db)] == ["tomli"]
    assert not journal_db.has_baseline(db) and journal_db.read_bookmark(db, "build.envd") is None


def test_a_journal_from_a_newer_envtrack_is_refused_with_both_versions(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with sqlite3.connect(path) as newer:
        newer.execute("PRAGMA user_version = %d" % (journal_db.SCHEMA_VERSION + 1))
    with pytest.raises(journal_db.JournalError) as error:
        journal_db.open_journal(path)
    assert f"schema version {journal_db.SCHEMA_VERSION + 1} is newer" in str(error.value)
    assert f"understands ({journal_db.SCHEMA_VERSION})" in str(error.value)


def test_inotify_events_are_unpacked_with_their_padded_names() -> None:
    name = b"status\0\0"   # the kernel pads names with NULs
    data = struct.pack("iIII", 3, IN_CREATE, 0, len(name)) + name + struct.pack("iIII", 4, IN_CREATE | IN_ISDIR, 0, 0)
    assert list(parse_events(data)) == [(3, IN_CREATE, "status"), (4, IN_CREATE | IN_ISDIR, "")]


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in db.execute(f"PRAGMA table_info({table})")]


def test_the_changes_table_has_exactly_the_row_types_fields(tmp_path: Path) -> None:
    """Change's fields are the one home of the columns: a field without a column, or a column
    without a field, fails here, in a new journal and in an unversioned one alike."""
    from dataclasses import fields

    from envtrack.journal.row import COLUMNS, Change

    names = [f.name for f in fields(Change)]
    assert _columns(journal_db.open_journal(tmp_path / "new.db"), "changes") == ["id"] + [n for n in names if n != "id"]
    assert COLUMNS == tuple(n for n in names if n != "id")


def test_the_package_tables_have_exactly_the_package_rows_fields(tmp_path: Path) -> None:
    """PackageRow's fields are the one home of the baseline's and inventory's columns and key:
    the DDL, the inserts and the reads are derived from them."""
    from dataclasses import fields

    from envtrack.journal.row import PACKAGE_COLUMNS, PackageRow

    names = [f.name for f in fields(PackageRow)]
    assert PACKAGE_COLUMNS == tuple(names)
    db = journal_db.open_journal(tmp_path / "new.db")
    for table in journal_db.PACKAGE_TABLES:
        info = list(db.execute(f"PRAGMA table_info({table})"))
        assert [r[1] for r in info] == names
        assert [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5]] == ["manager", "env", "name"]


def test_packages_come_back_as_they_were_written(tmp_path: Path) -> None:
    from envtrack.records import Package

    packages = [Package("apt", "jq", "1.6", "/", True, arch="amd64"),
                Package("pip", "tomli", "2.0.1", "/venv", False, source="file:///w", build="py3")]
    db = journal_db.open_journal(tmp_path / "journal.db")
    journal_db.take_baseline(db, packages, "c1", "2026-11-29T01:00:00.000Z")
    assert journal_db.read_packages(db, "baseline") == packages == journal_db.read_packages(db, "inventory")
    assert db.execute("SELECT taken_at FROM inventory").fetchone()[0] == "2026-11-29T01:00:00.000Z"


def test_a_row_comes_back_as_it_was_written(tmp_path: Path) -> None:
    from dataclasses import replace

    from envtrack.journal.row import Change
    from envtrack.records import PackageChange

    row = Change.of(PackageChange("pip", "/site", "tomli", "install", None, "2.0.1", True, source="file:///w"),
                    time="2026-11-29T01:00:00.000Z", detail={"asked": "tomli"})
    db = journal_db.open_journal(tmp_path / "journal.db")
    journal_db.record_batch(db, [row, replace(row, name="idna", requested=False, reconciled=True)])
    first, second = journal_db.read_changes(db)
    assert first == replace(row, id=1) and (second.id, second.requested, second.reconciled) == (2, False, True)
    assert journal_db.read_changes(db, since_id=1) == [second]


def test_no_other_module_spells_the_change_columns() -> None:
    """The schema, the inserts and the reads are derived from journal/row.py: a second spelling
    of the column list (a CREATE TABLE, an INSERT, a tuple of names) anywhere else fails here."""
    import re

    root = Path(journal_db.__file__).resolve().parents[1]
    spelled = re.compile(r"old_version\W+new_version\W+requested|INSERT INTO changes|CREATE TABLE\W+(IF NOT EXISTS\W+)?changes")
    found = [str(p.relative_to(root)) for p in root.rglob("*.py")
             if p.name != "row.py" and spelled.search(p.read_text(encoding="utf-8"))]
    assert found == []
    assert spelled.search((root / "journal" / "row.py").read_text(encoding="utf-8"))


def test_the_containers_copy_script_and_the_hosts_copy_give_the_same_rows(tmp_path: Path) -> None:
    """A journal leaves a remote container through journal/'s own copy, run by that python3."""
    import subprocess
    import sys

    from envtrack.journal.row import Change
    from envtrack.records import PackageChange

    live = journal_db.open_journal(tmp_path / "journal.db")   # WAL mode, still open: rows in the -wal file
    journal_db.record_batch(live, [Change.of(PackageChange("apt", "/", "jq", "install", None, "1.6", True),
                                             time="2026-11-29T01:00:00.000Z")])
    subprocess.run([sys.executable, "-I", "-c", journal_db.COPY_SCRIPT, str(tmp_path / "journal.db"),
                    str(tmp_path / "exported.db")], check=True)
    journal_db.copy_consistent(tmp_path / "exported.db", tmp_path / "installed.db")
    assert [r.name for r in journal_db.read_changes(journal_db.open_journal(tmp_path / "installed.db"))] == ["jq"]
