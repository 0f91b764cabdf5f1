"""Compare two package inventories and group the differences by manager and environment.

Pure: inputs are Package sequences, output is a `Diff` that the renderers in
`envtrack.snapshot.report` turn into text or JSON. Installs, removals, upgrades and
downgrades come from records.changes_between (dpkg and PEP 440 version order), the same
judgement the agent's journal uses; a lock also cares about what that function leaves
out on purpose (a flipped requested flag, another architecture), reported as "modify".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Iterable, Sequence

from envtrack import records
from envtrack.records import Package

MANAGER_ORDER = {"apt": 0, "pip": 1, "conda": 2}
_COMPARED = ("version", "requested", "arch", "source", "build")
_KIND = {"install": "added", "remove": "removed", "upgrade": "changed", "downgrade": "changed",
         "modify": "changed"}


@dataclass(frozen=True)
class DiffEntry:
    """One package slot (manager, env, name) that differs between A and B."""

    old: Package | None      # in A; None when added
    new: Package | None      # in B; None when removed
    action: str              # install | remove | upgrade | downgrade | modify

    @property
    def kind(self) -> str:
        return _KIND[self.action]

    @property
    def package(self) -> Package:
        return self.new if self.new is not None else self.old  # type: ignore[return-value]

    @property
    def name(self) -> str:
        return self.package.name

    @property
    def requested(self) -> bool:
        """Requested on either side: a package the user asked for is listed first."""
        return bool((self.old and self.old.requested) or (self.new and self.new.requested))

    @cached_property
    def fields(self) -> tuple[str, ...]:
        """Which recorded fields differ (only for "changed")."""
        if self.old is None or self.new is None:
            return ()
        return tuple(f for f in _COMPARED if getattr(self.old, f) != getattr(self.new, f))


@dataclass(frozen=True)
class EnvDiff:
    """The differences inside one manager's environment (e.g. pip in one site-packages)."""

    manager: str
    env: str
    added: tuple[DiffEntry, ...]
    removed: tuple[DiffEntry, ...]
    changed: tuple[DiffEntry, ...]

    @property
    def entries(self) -> tuple[DiffEntry, ...]:
        return self.added + self.removed + self.changed


@dataclass(frozen=True)
class Diff:
    groups: tuple[EnvDiff, ...]

    @property
    def equal(self) -> bool:
        return not self.groups

    def count(self, kind: str) -> int:
        return sum(len(getattr(group, kind)) for group in self.groups)


def entries_between(old: Iterable[Package], new: Iterable[Package]) -> list[DiffEntry]:
    """Every package slot whose record differs, in no particular order."""
    # Keys spelled out rather than Package.key: this runs per package on 5,000-package locks.
    before = {(p.manager, p.env, p.name): p for p in old}
    after = {(p.manager, p.env, p.name): p for p in new}
    entries = [DiffEntry(before[key], None, "remove") for key in before.keys() - after.keys()]
    entries.extend(DiffEntry(None, after[key], "install") for key in after.keys() - before.keys())
    # Slots on both sides with different records: changes_between orders their versions.
    # Equal slots stay out of it, since comparing versions is the costly part.
    was, now = [], []
    for key in before.keys() & after.keys():
        if before[key] != after[key]:
            was.append(before[key])
            now.append(after[key])
    judged = set()
    for change in records.changes_between(was, now):
        key = (change.manager, change.env, change.name)
        judged.add(key)
        entries.append(DiffEntry(before[key], after[key], change.action))
    # What changes_between leaves out on purpose (a flipped requested flag, another arch).
    entries.extend(DiffEntry(p, after[p.key], "modify") for p in was if p.key not in judged)
    return entries


def diff_packages(old: Iterable[Package], new: Iterable[Package]) -> Diff:
    """Group the changes by (manager, env); inside a group requested packages come first."""
    buckets: dict[tuple[str, str], list[DiffEntry]] = {}
    for entry in entries_between(old, new):
        package = entry.package
        buckets.setdefault((package.manager, package.env), []).append(entry)
    groups = [_group(manager, env, entries) for (manager, env), entries in buckets.items()]
    groups.sort(key=lambda g: (MANAGER_ORDER.get(g.manager, 9), g.manager, g.env))
    return Diff(tuple(groups))


def _group(manager: str, env: str, entries: Sequence[DiffEntry]) -> EnvDiff:
    def of(kind: str) -> tuple[DiffEntry, ...]:
        chosen = [e for e in entries if e.kind == kind]
        chosen.sort(key=lambda e: (not e.requested, e.name))
        return tuple(chosen)

    return EnvDiff(manager, env, of("added"), of("removed"), of("changed"))
