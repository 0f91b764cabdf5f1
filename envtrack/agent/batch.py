"""Turn inventory differences into journal rows (requested flags, details)."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Dict, List, Optional, Sequence

from envtrack.agent.apt_history import AptEntry, last_entry
from envtrack.agent.installers import Run, apt_marks, apt_running, asked_for
from envtrack.journal.row import Change
from envtrack.records import (Package, PackageChange, changes_between, flag_changes, pip_detail, redact_text,
                              venv_detail)

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
    installer command lines seen while the batch was written (RUNS), then apt's history, then records.

    apt's records are the front-end's own account once it has exited (it marks what its command
    line named manual, aptitude and apt-mark decide too), so they decide apt's flags then; while one
    runs (dpkg is done before apt writes extended_states) its command line and history do, and the
    agent compares again once it has exited (see journal_view)."""
    apt_busy = apt_running(runs)
    marks = apt_marks(runs)
    rows = []
    for change in changes:
        detail: Dict[str, object] = {}
        if change.manager == "apt":
            change = _apt_flag(change, detail, apt_entry, runs, marks, apt_busy)
        elif change.manager == "pip" and change.new_version is not None:
            detail.update(pip_detail(root, Package("pip", change.name, change.new_version, change.env,
                                                   change.requested)))
            detail.update(venv_detail(root, change.env))
        if change.new_version is not None and change.action != "mark" and change.manager != "apt":
            change = _as_asked(change, detail, runs)
        rows.append(Change.of(change, time=time, reconciled=reconciled, detail=detail))
    return rows


def _apt_flag(change: PackageChange, detail: Dict[str, object], apt_entry: Optional[AptEntry],
              runs: Sequence[Run], marks: Dict[str, bool], busy: bool) -> PackageChange:
    name = change.name.split(":")[0]
    if apt_entry is not None and name in apt_entry.named and change.action != "mark":
        detail["commandline"] = redact_text(apt_entry.commandline)  # proxy passwords in -o options
    marker = next((r for r in sorted(runs, key=lambda r: -r.seen) if r.mark and any(a.name == name for a in r.asked)),
                  None)
    if marker is not None:
        detail["commandline"] = marker.command
    if change.new_version is None:
        return change
    if change.action != "mark":
        asked = _as_asked(change, detail, runs)
        if busy:
            if name in marks:            # an apt-mark after the install, in the same burst
                return replace(change, requested=marks[name])
            if asked.requested and "asked" in detail:
                return asked
            if apt_entry is not None and name in apt_entry.automatic:
                return replace(change, requested=False)   # extended_states not written yet
    return change   # the records: once the front-end has exited, apt's own final word


def journal_view(live: List[Package], previous: List[Package], rows: Sequence[Change], hold_apt: bool) -> List[Package]:
    """The inventory the journal now describes: LIVE, with apt's requested flags as the rows (or,
    while an apt front-end still runs and HOLD_APT, the journal before them) said. The next scan
    compares apt's records with it, so a flag the records end up disagreeing with becomes a mark row."""
    said = {(r.manager, r.env, r.name): r.requested for r in rows if r.new_version is not None}
    before = {p.key: p for p in previous if p.manager == "apt"}
    view = []
    for package in live:
        if package.manager == "apt":
            if package.key in said:
                package = replace(package, requested=said[package.key])
            elif hold_apt and package.key in before and before[package.key].version == package.version:
                package = replace(package, requested=before[package.key].requested)
        view.append(package)
    return view


def _as_asked(change: PackageChange, detail: Dict[str, object], runs: Sequence[Run]) -> PackageChange:
    """CHANGE's requested flag (and DETAIL's `asked`: the spec as typed) from the command lines."""
    by_name, by_path, understood = asked_for(runs, change.manager, change.env)
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
