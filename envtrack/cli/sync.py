"""`envtrack sync`: write the packages changed at runtime back into build.envd.

Asking: with a terminal on stdin and stdout and no --yes, the diff is shown and sync
asks before writing. Without a terminal (scripts, CI) it writes, the way `pip install`
does not ask: the previous file is always kept under .envtrack/backups/, and --dry-run
shows the diff without writing.
"""

from __future__ import annotations

import json
import sys


def sync(file: str | None, dry_run: bool, pin: str, yes: bool, target: str, as_json: bool,
         into: str | None) -> None:
    """Rewrite build.envd with the packages installed, upgraded or removed since the last sync."""
    from envtrack.sync.service import sync as run_sync

    ask = not (yes or as_json) and _interactive()
    outcome = run_sync(file, pin=pin, target=target, into=into, dry_run=dry_run, confirm=_confirm if ask else None)
    if as_json:
        if outcome.proposal.agent_warning:
            print(outcome.proposal.agent_warning, file=sys.stderr)
        print(json.dumps(_report(outcome.proposal, outcome.written, outcome.backup, dry_run), indent=2))
    else:
        _print_text(outcome.proposal, outcome.written, outcome.backup, dry_run)


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _confirm(proposal) -> bool:
    _print_warnings(proposal)
    sys.stdout.write(proposal.diff())
    try:
        reply = input(f"Write these changes to {proposal.project.envd_file.name}? [y/N]: ")
    except EOFError:
        reply = ""
    answer = reply.strip().lower() in ("y", "yes")
    if not answer:
        print("nothing written", file=sys.stderr)
    return answer


def _print_warnings(proposal) -> None:
    if proposal.agent_warning:
        print(proposal.agent_warning, file=sys.stderr)
    for note in proposal.notes:
        if note.level == "warning":
            print(f"warning: {note.message}", file=sys.stderr)


def _print_text(proposal, written: bool, backup, dry_run: bool) -> None:
    name = proposal.project.envd_file.name
    if not proposal.changed:
        _print_warnings(proposal)
        print(f"{name} is up to date ({proposal.rows_read} new journal entries, nothing to write)")
        return
    if dry_run:
        _print_warnings(proposal)
        sys.stdout.write(proposal.diff())
        return
    if not written:
        return
    if not _interactive():
        _print_warnings(proposal)
    for note in proposal.notes:
        if note.level == "edit":
            print(f"  {note.message}")
    print(f"updated {name} (previous version: {backup})")


def _report(proposal, written: bool, backup, dry_run: bool) -> dict:
    return {
        "file": str(proposal.project.envd_file),
        "changed": proposal.changed,
        "written": bool(written and proposal.changed),
        "dry_run": dry_run,
        "backup": str(backup) if backup else None,
        "journal": {"since_id": proposal.since_id, "up_to_id": proposal.up_to_id, "rows": proposal.rows_read},
        "edits": [n.message for n in proposal.notes if n.level == "edit"],
        "warnings": [n.message for n in proposal.notes if n.level == "warning"],
        "changes": [
            {"manager": c.manager, "name": c.name, "before": c.before, "after": c.version, "requested": c.requested}
            for c in proposal.changes
        ],
        "diff": proposal.diff(),
    }
