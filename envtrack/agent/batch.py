"""Turn inventory differences into journal rows (requested flags, details)."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Dict, List, Optional, Sequence

from envtrack.agent.apt_history import AptEntry, last_entry
from envtrack.agent.installers import Run, asked_for
from envtrack.journal.row import Change
from envtrack.records import Package, PackageChange, changes_between, flag_changes, pip_detail, redact_text

APT_HISTORY = "/var/log/apt/history.log"


def read_apt_entry(root: str) -> Optional[AptEntry]:
    try:
        with open(os.path.join(root, APT_HISTORY.lstrip("/")), encoding="utf-8", errors="replace") as handle:
            return last_entry(handle.read())
    except OSError:
        return None


def inventory_changes(old: List[Package], new: List[Package]) -> List[PackageChange]:
    """Everything the journal must hear about between two scans: version changes, then flag flips."""
    return changes_between(old, new) + flag_changes(old, new)


def journal_rows(changes: List[PackageChange], *, root: str, time: str, reconciled: bool,
                 apt_entry: Optional[AptEntry] = None, runs: Sequence[Run] = ()) -> List[Change]:
    """One row per change; requested flags and details from the strongest signal there is: the
    installer command lines seen while the batch was written (RUNS), then apt's history, then records."""
    rows = []
    for change in changes:
        detail: Dict[str, object] = {}
        if change.manager == "apt" and apt_entry is not None and change.name.split(":")[0] in apt_entry.named:
            detail["commandline"] = redact_text(apt_entry.commandline)  # proxy passwords in -o options
            if change.name.split(":")[0] in apt_entry.automatic and change.action != "mark":
                # (an apt-mark after that run is the user's word, not the history's)
                # extended_states may not be written yet when dpkg finishes; history says "automatic".
                change = replace(change, requested=False)
        elif change.manager == "pip" and change.new_version is not None:
            detail.update(pip_detail(root, Package("pip", change.name, change.new_version, change.env,
                                                   change.requested)))
        if change.new_version is not None and change.action != "mark":
            change = _as_asked(change, detail, runs)
        rows.append(Change.of(change, time=time, reconciled=reconciled, detail=detail))
    return rows


def _as_asked(change: PackageChange, detail: Dict[str, object], runs: Sequence[Run]) -> PackageChange:
    """CHANGE's requested flag (and DETAIL's `asked`: the spec as typed) from the command lines."""
    by_name, by_path, understood = asked_for(runs, change.manager, change.env if change.manager == "conda" else "")
    path = change.source[len("file://"):].rstrip("/") if change.source.startswith("file://") else ""
    asked = by_name.get(change.name.split(":")[0]) or (by_path.get(path) if path else None)
    if asked is None:
        # Every command line of this installer was understood and none named it: a dependency,
        # whatever the records say (uv marks every package it installs REQUESTED). apt's
        # Auto-Installed is exact already.
        return replace(change, requested=False) if understood and change.manager != "apt" else change
    detail["asked"] = asked.spec
    if asked.editable:
        detail["editable"] = True
    if asked.channels:
        detail["channels"] = list(asked.channels)
    if change.manager == "apt" and asked.path:
        detail["deb"] = asked.path   # dpkg -i / apt install ./x.deb: no archive has it
    return replace(change, requested=True)
