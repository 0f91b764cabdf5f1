"""`envtrack log`: read and render the journal.

Standard library only like the rest of the journal package (which ships whole into
containers); a bad --since raises SinceError, which the CLI reports as bad input (exit 2).
"""

from __future__ import annotations

from typing import List, Optional

from envtrack.journal.db import JournalError, read_changes_at
from envtrack.journal.row import Change


def load_changes(path, since: Optional[str]) -> List[Change]:
    """Rows after ID SINCE, or at/after the ISO time SINCE; all rows when None."""
    if since is not None and not since.isdigit() and not since[:4].isdigit():
        raise SinceError("--since %r: expected a change ID or an ISO time like 2026-11-29T01:02" % since)
    if since is None or since.isdigit():
        return read_changes_at(path, int(since or 0))
    return [row for row in read_changes_at(path) if row.time >= since]


class SinceError(JournalError):
    """A --since value that is neither a change ID nor an ISO time (bad input)."""


def render(rows: List[Change]) -> str:
    """Requested changes, then dependencies; each oldest first."""
    if not rows:
        return "no recorded changes\n"
    lines: List[str] = []
    for title, chosen in (("requested", [r for r in rows if r.requested]),
                          ("dependencies", [r for r in rows if not r.requested])):
        if chosen:
            lines.append(f"{title}:")
            lines.extend(_line(row) for row in chosen)
    return "\n".join(lines) + "\n"


def _line(row: Change) -> str:
    versions = {
        "install": row.new_version,
        "remove": row.old_version,
        "mark": f"{row.new_version} now {'requested' if row.requested else 'a dependency'}",
    }.get(row.action, f"{row.old_version} -> {row.new_version}")
    where = "" if row.env == "/" else f"  [{row.env}]"
    flags = " (reconciled)" if row.reconciled else ""
    return f"  #{row.id:<5} {row.time[:19]}  {row.manager:<5} {row.action:<9} {row.name} {versions}{where}{flags}"
