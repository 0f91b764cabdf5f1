"""The change algebra: what happened to each package slot between two inventories."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Optional

from envtrack.records.package import Package
from envtrack.records.versions import compare_versions


@dataclass(frozen=True)
class PackageChange:
    """One slot that changed between two inventories, as the journal records it."""

    manager: str
    env: str
    name: str
    action: str                   # install | remove | upgrade | downgrade | mark (requested flipped)
    old_version: Optional[str]
    new_version: Optional[str]
    requested: bool
    arch: str = ""
    source: str = ""
    build: str = ""


def changes_between(old: Iterable[Package], new: Iterable[Package]) -> List[PackageChange]:
    """What happened between two inventories, as installs, removals, upgrades, downgrades.

    A slot whose version is unchanged is no change (a flipped requested flag or a rebuilt
    conda build alone is not an install). Sorted by (manager, env, name).
    """
    before = {p.key: p for p in old}
    after = {p.key: p for p in new}
    changes = []
    for key in sorted(set(before) | set(after)):
        was, now = before.get(key), after.get(key)
        if was is None and now is not None:
            changes.append(_change(now, "install", None, now.version))
        elif now is None and was is not None:
            changes.append(_change(was, "remove", was.version, None))
        elif was is not None and now is not None:
            order = compare_versions(now.manager, was.version, now.version)
            if order < 0:
                changes.append(_change(now, "upgrade", was.version, now.version))
            elif order > 0:
                changes.append(_change(now, "downgrade", was.version, now.version))
            elif was.build != now.build or was.source != now.source:
                changes.append(_change(now, "upgrade", was.version, now.version))  # reinstalled from elsewhere
    return changes


def flag_changes(old: Iterable[Package], new: Iterable[Package]) -> List[PackageChange]:
    """Slots whose version stayed but whose requested flag flipped: one `mark` change each.

    An installer's final records can disagree with an earlier read of them (pip writes
    REQUESTED after byte-compiling; `apt-mark manual`), and sync must see the final truth.
    """
    before = {p.key: p for p in old}
    changes = []
    for now in sorted(new, key=lambda p: p.key):
        was = before.get(now.key)
        if was is not None and was.version == now.version and was.requested != now.requested:
            changes.append(_change(now, "mark", now.version, now.version))
    return changes


def _change(package: Package, action: str, old: Optional[str], new: Optional[str]) -> PackageChange:
    return PackageChange(package.manager, package.env, package.name, action, old, new,
                         package.requested, package.arch, package.source, package.build)
