"""Fold journal rows into the net change per package since the last sync. Pure.

The journal records every step the user took (install, upgrade, remove, ...). sync
only cares where each package ended up relative to where it started: installed then
removed is nothing, installed twice is the last version, removed then reinstalled is
a version change (or nothing when the version came back the same).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from envtrack.journal.row import Change
from envtrack.requirements import canonical_name

MANAGERS = ("apt", "conda", "pip")


@dataclass(frozen=True)
class NetChange:
    """Where one package ended up. `version` is None when it ended up removed."""

    manager: str
    env: str
    name: str
    before: str | None        # version before the first change in the window, None if absent
    version: str | None       # version after the last change, None if removed
    requested: bool           # the user asked for it (at least once) in the window
    source: str = ""          # direct URL / VCS url@commit recorded by the installer
    detail: Mapping[str, Any] | None = None
    last_id: int = 0

    @property
    def removed(self) -> bool:
        return self.version is None

    @property
    def added(self) -> bool:
        return self.before is None and self.version is not None


def fold_changes(rows: Iterable[Change]) -> list[NetChange]:
    """The net change of every package touched by ROWS (journal rows, any order)."""
    folded: dict[tuple[str, str, str], NetChange] = {}
    for row in sorted(rows, key=lambda r: r.id):
        name = canonical_name(row.manager, row.name)
        key = (row.manager, row.env, name)
        folded[key] = _fold_one(folded.get(key), row, name)
    return [c for c in folded.values() if c.before != c.version or _source_changed(c)]


def _fold_one(previous: NetChange | None, row: Change, name: str) -> NetChange:
    removed = row.action == "remove"
    version = None if removed else (row.new_version or "")
    if previous is None:
        before = None if row.action == "install" else (row.old_version or "")
        requested = row.requested
    elif row.action == "mark":
        # The agent corrected the flag from the installer's final records: that is the truth.
        before = previous.before
        requested = row.requested
    else:
        before = previous.before
        requested = previous.requested or row.requested
    return NetChange(
        manager=row.manager,
        env=row.env,
        name=name,
        before=before,
        version=version,
        requested=requested,
        source="" if removed else row.source,
        detail=row.detail,
        last_id=row.id,
    )


def _source_changed(change: NetChange) -> bool:
    """A reinstall from a VCS commit at the same version number is still a change."""
    return change.version is not None and bool(change.source)
