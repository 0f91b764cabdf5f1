"""Compare two package inventories and group the differences by manager and environment.

Pure: inputs are Package sequences, output is a `Diff` that the renderers in
`envtrack.snapshot.report` turn into text or JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Iterable, Sequence

from envtrack.records import Package

MANAGER_ORDER = {"apt": 0, "pip": 1, "conda": 2}
_COMPARED = ("version", "requested", "arch", "source", "build")


@dataclass(frozen=True)
class PackageChange:
    """One package slot (manager, env, name) that differs between A and B."""

    old: Package | None      # in A; None when added
    new: Package | None      # in B; None when removed

    @property
    def kind(self) -> str:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "changed"

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
    added: tuple[PackageChange, ...]
    removed: tuple[PackageChange, ...]
    changed: tuple[PackageChange, ...]

    @property
    def changes(self) -> tuple[PackageChange, ...]:
        return self.added + self.removed + self.changed


@dataclass(frozen=True)
class Diff:
    groups: tuple[EnvDiff, ...]

    @property
    def equal(self) -> bool:
        return not self.groups

    def count(self, kind: str) -> int:
        return sum(len(getattr(group, kind)) for group in self.groups)


def changes_between(old: Iterable[Package], new: Iterable[Package]) -> list[PackageChange]:
    """Every package slot whose record differs, in no particular order."""
    # Keys spelled out rather than Package.key: this runs per package on 5,000-package locks.
    before = {(p.manager, p.env, p.name): p for p in old}
    after = {(p.manager, p.env, p.name): p for p in new}
    changes = [PackageChange(p, after.get(key)) for key, p in before.items() if after.get(key) != p]
    changes.extend(PackageChange(None, p) for key, p in after.items() if key not in before)
    return changes


def diff_packages(old: Iterable[Package], new: Iterable[Package]) -> Diff:
    """Group the changes by (manager, env); inside a group requested packages come first."""
    buckets: dict[tuple[str, str], list[PackageChange]] = {}
    for change in changes_between(old, new):
        package = change.package
        buckets.setdefault((package.manager, package.env), []).append(change)
    groups = [_group(manager, env, changes) for (manager, env), changes in buckets.items()]
    groups.sort(key=lambda g: (MANAGER_ORDER.get(g.manager, 9), g.manager, g.env))
    return Diff(tuple(groups))


def _group(manager: str, env: str, changes: Sequence[PackageChange]) -> EnvDiff:
    def of(kind: str) -> tuple[PackageChange, ...]:
        chosen = [c for c in changes if c.kind == kind]
        chosen.sort(key=lambda c: (not c.requested, c.name))
        return tuple(chosen)

    return EnvDiff(manager, env, of("added"), of("removed"), of("changed"))
