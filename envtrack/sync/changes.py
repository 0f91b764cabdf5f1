"""Fold journal rows into the net change per package since the last sync. Pure.

The journal records every step the user took (install, upgrade, remove, ...). sync
only cares where each package ended up relative to where it started: installed then
removed is nothing, installed twice is the last version, removed then reinstalled is
a version change (or nothing when the version came back the same).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from envtrack.requirements import canonical_name

MANAGERS = ("apt", "conda", "pip")
VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+")


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


def fold_changes(rows: Iterable[Mapping[str, Any]]) -> list[NetChange]:
    """The net change of every package touched by ROWS (journal rows, any order)."""
    folded: dict[tuple[str, str, str], NetChange] = {}
    for row in sorted(rows, key=lambda r: int(r["id"])):
        manager = str(row["manager"])
        name = canonical_name(manager, str(row["name"]))
        key = (manager, str(row.get("env") or ""), name)
        folded[key] = _fold_one(folded.get(key), row, manager, name)
    return [c for c in folded.values() if c.before != c.version or _source_changed(c)]


def _fold_one(previous: NetChange | None, row: Mapping[str, Any], manager: str, name: str) -> NetChange:
    removed = row["action"] == "remove"
    version = None if removed else (row.get("new_version") or "")
    if previous is None:
        before = None if row["action"] == "install" else (row.get("old_version") or "")
        requested = bool(row.get("requested"))
    elif row["action"] == "mark":
        # The agent corrected the flag from the installer's final records: that is the truth.
        before = previous.before
        requested = bool(row.get("requested"))
    else:
        before = previous.before
        requested = previous.requested or bool(row.get("requested"))
    return NetChange(
        manager=manager,
        env=str(row.get("env") or ""),
        name=name,
        before=before,
        version=version,
        requested=requested,
        source="" if removed else str(row.get("source") or ""),
        detail=_detail(row.get("detail")),
        last_id=int(row["id"]),
    )


def _source_changed(change: NetChange) -> bool:
    """A reinstall from a VCS commit at the same version number is still a change."""
    return change.version is not None and bool(change.source)


def _detail(raw: Any) -> Mapping[str, Any]:
    if isinstance(raw, Mapping):
        return raw
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def unreproducible_reason(change: NetChange) -> str | None:
    """Why CHANGE cannot be rebuilt from a package index, or None when it can."""
    detail = change.detail or {}
    if change.manager != "pip":
        return None   # apt has no source; conda's is its channel
    if detail.get("editable"):
        return "editable install (a working copy, not a package)"
    if detail.get("local") or change.source.startswith("file:"):
        return f"installed from a local path{_from(change.source)}"
    if change.source and not _is_vcs(change) and not change.source.startswith(("http://", "https://")):
        return f"installed from an unrecognised source{_from(change.source)}"
    return None


def conda_channel(change: NetChange) -> str | None:
    """The channel to name in `channel::name` for a conda install, when it is a plain channel name."""
    channel = change.source
    if change.manager != "conda" or not channel or channel in ("defaults", "pkgs/main"):
        return None
    return channel if all(c not in channel for c in "/:") else None


def _from(source: str) -> str:
    return f" ({source})" if source else ""


def _is_vcs(change: NetChange) -> bool:
    return change.source.startswith(VCS_PREFIXES) or bool((change.detail or {}).get("vcs"))


def vcs_url(change: NetChange) -> str | None:
    """`git+https://host/repo@COMMIT` for a VCS install, None otherwise."""
    if not change.source or not _is_vcs(change):
        return None
    if change.source.startswith(VCS_PREFIXES):
        return change.source
    return f"{(change.detail or {}).get('vcs', 'git')}+{change.source}"
