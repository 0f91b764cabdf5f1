"""`envtrack sync` as one call (sync), made of two steps: propose (read everything, compute the
new text) and apply (write, bookmark)."""

from __future__ import annotations

import difflib
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from envtrack.project import Project, display_path, open_project
from envtrack.sync.changes import NetChange, fold_changes
from envtrack.sync.journal import last_synced_id, mark_synced, read_changes_since
from envtrack.sync.result import Note, Rewrite
from envtrack.requirements import PIN_MODES


@dataclass(frozen=True)
class Proposal:
    project: Project
    old_text: str
    rewrite: Rewrite
    changes: tuple[NetChange, ...]
    rows_read: int
    since_id: int
    up_to_id: int             # the bookmark to store once this proposal is applied
    up_to_time: str | None    # that change's time, so a journal that started over is noticed
    target: str
    agent_warning: str | None = None   # the agent was not recording (said before anything else)

    @property
    def changed(self) -> bool:
        return self.rewrite.text != self.old_text

    @property
    def notes(self) -> tuple[Note, ...]:
        return self.rewrite.notes

    def diff(self) -> str:
        name = self.project.envd_file.name
        return "".join(difflib.unified_diff(
            self.old_text.splitlines(keepends=True), self.rewrite.text.splitlines(keepends=True),
            fromfile=f"a/{name}", tofile=f"b/{name}",
        ))


@dataclass(frozen=True)
class Outcome:
    proposal: Proposal
    written: bool
    backup: Path | None


def sync(file: str | None, *, pin: str = "exact", target: str = "build", into: str | None = None,
         dry_run: bool = False, confirm: Callable[[Proposal], bool] | None = None) -> Outcome:
    """Bring the journal up to date, propose, and apply unless DRY_RUN or CONFIRM(proposal) says no.

    Everything happens under the project's lock, so a concurrent `up` or `sync` cannot interleave.
    """
    from dataclasses import replace

    from envtrack.container.recording import agent_warning
    from envtrack.container.service import catch_up
    from envtrack.container.state import journal_for
    from envtrack.statedir import project_lock

    project = open_project(file)
    with project_lock(project.state_dir, "sync"):
        warning = agent_warning(project)   # restarts a dead agent, which reconciles
        journal_for(project)  # a remote Engine's journal is fetched first
        catch_up(project)     # a journal no agent keeps (live recording off) is brought up to date
        proposal = replace(propose(project, pin=pin, target=target, into=into), agent_warning=warning)
        if not proposal.changed:
            _refuse_if_not_recording(project)
        write = not dry_run and (not proposal.changed or confirm is None or confirm(proposal))
        backup = apply(proposal) if write else None
    return Outcome(proposal, write, backup)


def _refuse_if_not_recording(project: Project) -> None:
    """Nothing to write is no news when recording has stopped (a full `.envtrack/`): say why, exit 1."""
    from envtrack.container.health import recording_stopped
    from envtrack.errors import EnvtrackError

    stopped = recording_stopped(project)
    if stopped:
        raise EnvtrackError(f"nothing journaled to write, but recording has stopped: {stopped}")


def propose(project: Project, *, pin: str = "exact", target: str = "build", into: str | None = None) -> Proposal:
    """Everything sync would do, without changing anything; new calls go to INTO (default: the image's state)."""
    from envtrack.errors import EnvtrackError
    from envtrack.frontend import load_plan

    if pin not in PIN_MODES:
        raise EnvtrackError(f"--pin must be one of {', '.join(PIN_MODES)}, not {pin!r}", exit_code=2)
    from envtrack.frontend.source import decode_source

    data = _io(project.envd_file, "read", project.envd_file.read_bytes)   # what is evaluated and rewritten
    old_text = decode_source(display_path(project.envd_file), data)
    with _journal_errors(project.journal_path):
        since = last_synced_id(project.journal_path, project.envd_file)
        rows = read_changes_since(project.journal_path, since)
    changes = fold_changes(rows)
    if changes:
        from envtrack.sync.rewrite import rewrite_source   # libcst: only when there is work

        plan = load_plan(project.envd_file, target=target, given={str(project.envd_file): data})
        rewrite = rewrite_source(old_text, plan, changes, envd_file=project.envd_file, pin=pin, target=target,
                                 into=into)
    else:
        rewrite = Rewrite(old_text, ())
    last = max(rows, key=lambda r: r.id, default=None)
    up_to, up_to_time = (last.id, last.time) if last else (since, None)
    return Proposal(project, old_text, rewrite, tuple(changes), len(rows), since, up_to, up_to_time, target)


def apply(proposal: Proposal) -> Path | None:
    """Write the proposal (validated, backed up, atomic) and move the bookmark. Returns the backup."""
    from envtrack.sync.files import backup, replace_validated

    project = proposal.project
    backup_path = None
    if proposal.changed or proposal.up_to_id > proposal.since_id:
        project.require_writable_state("envtrack sync")
    if proposal.changed:
        backup_path = _io(project.backups_dir, "write", lambda: backup(project.envd_file, project.backups_dir))
        _io(project.envd_file, "write", lambda: replace_validated(
            project.envd_file, proposal.old_text, proposal.rewrite.text, lambda temp: _validate(temp, proposal.target, project.envd_file, proposal.rewrite)))
    if proposal.up_to_id > proposal.since_id:
        written = "; build.envd was updated, but the next sync will offer the same changes" if proposal.changed else ""
        with _journal_errors(project.journal_path, written):
            mark_synced(project.journal_path, project.envd_file, proposal.up_to_id, proposal.up_to_time)
    return backup_path


def _io(path: Path, verb: str, action):  # noqa: ANN001, ANN202
    """ACTION(), with an OSError (read-only project, full disk) as one line naming PATH."""
    from envtrack.errors import EnvtrackError

    try:
        return action()
    except OSError as error:
        where = error.filename or path
        raise EnvtrackError(f"cannot {verb} {where}: {error.strerror or error}; build.envd left unchanged"
                            if verb == "write" else f"cannot {verb} {where}: {error.strerror or error}") from None


@contextmanager
def _journal_errors(journal: Path, consequence: str = ""):  # noqa: ANN202
    """A journal that is not SQLite, is damaged or cannot be written: one line, not a traceback."""
    from envtrack.errors import EnvtrackError
    from envtrack.journal.db import JournalError

    try:
        yield
    except JournalError as error:   # the journal's owner names the file and the reason
        raise EnvtrackError(f"{error}{consequence}") from None
    except sqlite3.DatabaseError as error:   # OperationalError (read-only, locked) included
        raise EnvtrackError(f"{journal}: cannot use the journal ({error}){consequence}") from None
    except OSError as error:
        raise EnvtrackError(f"{journal}: {error.strerror or error}{consequence}") from None


def _validate(temp: Path, target: str, old: Path, rewrite: Rewrite) -> None:
    """The rewritten file must evaluate, lower to LLB (no Engine needed) and reach every call sync
    wrote before it replaces the user's; when the user's own file does not lower either, that is
    said instead of a bug."""
    from envtrack.errors import EnvtrackError
    from envtrack.frontend import load_plan
    from envtrack.llb.compile import compile_plan
    from envtrack.sync.placement import misplaced

    try:
        plan = load_plan(temp, target=target)
        compile_plan(plan)
    except EnvtrackError as error:
        message = error.message.replace(display_path(temp), old.name)
        try:
            compile_plan(load_plan(old, target=target))
        except EnvtrackError as own:
            raise EnvtrackError(f"{own}; fix it and run sync again (nothing written)", exit_code=2) from None
        raise EnvtrackError(f"the rewritten file would not build ({message}); build.envd left unchanged "
                            "(this is a bug in envtrack sync, please report it)") from error
    problem = misplaced(plan, rewrite.added)
    if problem:
        raise EnvtrackError(f"sync cannot place its changes in {old.name}: {problem}; nothing written "
                            f"(write them by hand: {', '.join(a.entry or a.command for a in rewrite.added)})")
