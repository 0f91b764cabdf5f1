"""The journal's rows: their fields are the tables' columns, their one home.

`Change` is a row of `changes`, `PackageRow` one of the package tables (`baseline`,
`inventory`). The schema's column lists, the agent's inserts and every host read are derived
from them; a row is turned into SQLite values (`to_sql`) and back (`from_sql`) here and nowhere else.
Ships into containers with the rest of the journal package: standard library only, Python
3.8 syntax.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from typing import Any, Dict, Mapping, Optional, Tuple

from envtrack.records import Package, PackageChange
from envtrack.records.redact import redact_text, redact_url


def _column(sql: str, *, key: bool = False, **default: Any) -> Any:
    """A field that is a column of its table, declared as SQL (KEY: part of the primary key)."""
    return field(metadata={"sql": sql, "key": key}, **default)


@dataclass(frozen=True)
class Change:
    """One change the journal holds, as every reader gets it: flags as bools, `detail` decoded,
    source and command line redacted. `id` is the journal's (0 until the row is written)."""

    time: str = _column("TEXT NOT NULL")
    manager: str = _column("TEXT NOT NULL")
    env: str = _column("TEXT NOT NULL")
    action: str = _column("TEXT NOT NULL")   # install | remove | upgrade | downgrade | mark
    name: str = _column("TEXT NOT NULL")
    old_version: Optional[str] = _column("TEXT")
    new_version: Optional[str] = _column("TEXT")
    requested: bool = _column("INTEGER")
    source: str = _column("TEXT", default="")
    arch: str = _column("TEXT", default="")
    build: str = _column("TEXT", default="")
    reconciled: bool = _column("INTEGER", default=False)
    detail: Mapping[str, Any] = _column("TEXT", default_factory=dict)   # JSON in the table
    id: int = 0   # the table's INTEGER PRIMARY KEY, assigned when the row is written

    @classmethod
    def of(cls, change: PackageChange, *, time: str, reconciled: bool = False,
           detail: Optional[Mapping[str, Any]] = None) -> "Change":
        """The row the agent writes for CHANGE."""
        return cls(time=time, manager=change.manager, env=change.env, action=change.action, name=change.name,
                   old_version=change.old_version, new_version=change.new_version,
                   requested=bool(change.requested), source=change.source, arch=change.arch,
                   build=change.build, reconciled=reconciled, detail=dict(detail or {}))

    def to_sql(self) -> Tuple[object, ...]:
        """The values of COLUMNS, as the table stores them."""
        values = {"requested": int(self.requested), "reconciled": int(self.reconciled),
                  "detail": json.dumps(dict(self.detail), sort_keys=True)}
        return tuple(values.get(name, getattr(self, name)) for name in COLUMNS)

    @classmethod
    def from_sql(cls, record: Any) -> "Change":
        """The row for RECORD (an sqlite3.Row or a mapping holding SELECT_COLUMNS, as the table
        stores them). A journal written by an older agent, or by hand, may hold NULLs, a damaged
        `detail` or credentials: they come out as empty values and redacted text."""
        raw = {name: record[name] for name in SELECT_COLUMNS}
        try:
            detail = json.loads(raw["detail"] or "{}")
        except (TypeError, ValueError):
            detail = {}
        return cls(time=raw["time"] or "", manager=raw["manager"] or "", env=raw["env"] or "",
                   action=raw["action"] or "", name=raw["name"] or "", old_version=raw["old_version"],
                   new_version=raw["new_version"], requested=bool(raw["requested"]),
                   source=raw["source"] or "", arch=raw["arch"] or "", build=raw["build"] or "",
                   reconciled=bool(raw["reconciled"]), detail=detail if isinstance(detail, dict) else {},
                   id=int(raw["id"])).redacted()

    def redacted(self) -> "Change":
        """This row with its source and command line redacted again: a journal written by an older
        agent may hold credentials, and what envtrack prints or writes from it must not."""
        detail = self.detail
        if isinstance(detail.get("commandline"), str):
            detail = dict(detail, commandline=redact_text(detail["commandline"]))
        return replace(self, source=redact_url(self.source), detail=detail)

    def as_json(self) -> Dict[str, Any]:
        """The row as `log --json` prints it: every column and `id`."""
        return {f.name: (dict(self.detail) if f.name == "detail" else getattr(self, f.name)) for f in fields(self)}


COLUMNS: Tuple[str, ...] = tuple(f.name for f in fields(Change) if "sql" in f.metadata)
SELECT_COLUMNS: Tuple[str, ...] = ("id",) + COLUMNS
TABLE_SQL = "CREATE TABLE IF NOT EXISTS changes (\n    id INTEGER PRIMARY KEY, %s);\n" % ", ".join(
    "%s %s" % (f.name, f.metadata["sql"]) for f in fields(Change) if "sql" in f.metadata)
INSERT_SQL = "INSERT INTO changes (%s) VALUES (%s)" % (", ".join(COLUMNS), ", ".join("?" * len(COLUMNS)))
SELECT_SQL = "SELECT %s FROM changes" % ", ".join(SELECT_COLUMNS)


@dataclass(frozen=True)
class PackageRow:
    """One package of a package table: `baseline` (what the container started with) or
    `inventory` (what it holds now), as of `taken_at`."""

    manager: str = _column("TEXT", key=True)
    env: str = _column("TEXT", key=True)
    name: str = _column("TEXT", key=True)
    version: str = _column("TEXT")
    requested: bool = _column("INTEGER")
    arch: str = _column("TEXT")
    source: str = _column("TEXT")
    build: str = _column("TEXT")
    taken_at: str = _column("TEXT")

    @classmethod
    def of(cls, package: Package, taken_at: str) -> "PackageRow":
        return cls(manager=package.manager, env=package.env, name=package.name, version=package.version,
                   requested=bool(package.requested), arch=package.arch, source=package.source,
                   build=package.build, taken_at=taken_at)

    def to_sql(self) -> Tuple[object, ...]:
        """The values of PACKAGE_COLUMNS, as the table stores them."""
        return tuple(int(self.requested) if name == "requested" else getattr(self, name) for name in PACKAGE_COLUMNS)

    @classmethod
    def from_sql(cls, record: Any) -> "PackageRow":
        """The row for RECORD (an sqlite3.Row or a mapping holding PACKAGE_COLUMNS); NULLs come out empty."""
        return cls(**{name: record[name] or "" for name in PACKAGE_COLUMNS if name != "requested"},
                   requested=bool(record["requested"]))

    def package(self) -> Package:
        return Package(self.manager, self.name, self.version, self.env, self.requested, arch=self.arch,
                       source=self.source, build=self.build)


PACKAGE_COLUMNS: Tuple[str, ...] = tuple(f.name for f in fields(PackageRow))


def package_table_sql(table: str) -> str:
    """TABLE's CREATE statement, from PackageRow's fields."""
    columns = ", ".join("%s %s" % (f.name, f.metadata["sql"]) for f in fields(PackageRow))
    key = ", ".join(f.name for f in fields(PackageRow) if f.metadata["key"])
    return "CREATE TABLE IF NOT EXISTS %s (\n    %s, PRIMARY KEY (%s));\n" % (table, columns, key)


def package_insert_sql(table: str) -> str:
    return "INSERT INTO %s (%s) VALUES (%s)" % (table, ", ".join(PACKAGE_COLUMNS), ", ".join("?" * len(PACKAGE_COLUMNS)))


def package_select_sql(table: str) -> str:
    return "SELECT %s FROM %s" % (", ".join(PACKAGE_COLUMNS), table)
