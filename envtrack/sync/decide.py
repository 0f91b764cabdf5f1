"""What sync changes in build.envd, decided from the plan and the net changes. Pure, no libcst.

The decisions are data (Edits): per install call, the entries removed, replaced and appended;
the packages that need new install calls; the uninstall commands to append; and a note for
the user about each. envtrack.sync.tree carries them out on the libcst tree.

Requirement forms (pins, extras, VCS URLs, channels) are spelled by
envtrack.requirements.format_requirement; where a change is written is decided here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from envtrack.frontend.steps import Plan
from envtrack.records import in_dpkg_site
from envtrack.sync.changes import MANAGERS, NetChange
from envtrack.sync.forms import (PIPX, OtherEnv, conda_channel_url, conda_entry, fills_main_env, other_env,
                                 other_env_entry, pip_entry, pipx_command, pipx_forced, pipx_key, pipx_removal,
                                 pipx_written, typed_url_channel, unreproducible)
from envtrack.sync.into import Destination
from envtrack.sync.result import Added, Note
from envtrack.sync.sites import (KIND_OF_MANAGER, MANAGER_OF_KIND, CallSite, Declared, RunLiteral, SourceMap,
                                 run_literals, same_file)
from envtrack.requirements import format_requirement, parse_requirement

UNINSTALL = {"pip": "pip uninstall -y {}", "apt": "apt-get remove -y {}", "conda": "conda remove -y {}"}


@dataclass
class CallEdit:
    """What changes inside one install call's literal `name` list (indexes into it)."""

    removed: set[int] = field(default_factory=set)
    replaced: dict[int, str] = field(default_factory=dict)
    appended: list[str] = field(default_factory=list)


@dataclass
class Edits:
    """Everything one sync writes; envtrack.sync.tree applies it."""

    calls: dict[int, tuple[CallSite, CallEdit]] = field(default_factory=dict)
    new_installs: dict[str, list[str]] = field(default_factory=dict)   # manager -> entries
    uninstall_commands: list[str] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    pipx_commands: list[str] = field(default_factory=list)    # run after the new installs (pipx among them)
    conda_channels: list[str] = field(default_factory=list)   # URL channels the new conda call names
    run_replaced: dict[str, str | None] = field(default_factory=dict)   # a written run command -> its new text (None: gone)
    env_commands: list[str] = field(default_factory=list)   # create and fill other environments, run last
    python_version: str | None = None   # write install.python() before the new pip call ("": the default)
    insert_at: int = 0           # new statements go before this statement of the target's body
    added: list[Added] = field(default_factory=list)   # what the rebuilt plan must reach

    def of(self, site: CallSite) -> CallEdit:
        return self.calls.setdefault(id(site), (site, CallEdit()))[1]


def decide(plan: Plan, source: SourceMap, declared: list[Declared], changes: list[NetChange], *,
           pin: str, target: str, into_state: Destination, envd_file: Path) -> Edits:
    """The edits that make the file declare CHANGES (see the module docstring)."""
    # Another environment's packages are its own calls' (a removal there removes no declaration of build.envd's).
    main = [c for c in changes if other_env(c) is None and pipx_key(c) is None and (fills_main_env(c) or not c.removed)]
    edits = plan_edits(one_per_package(main), declared, pin, target, run_commands_of(plan))
    literals = run_literals(source.module)
    written = run_commands_of(plan)
    for change in sorted((c for c in changes if pipx_key(c) is not None), key=lambda c: c.last_id):
        pipx_edit(change, edits, pin, written, literals)
    other_env_edits([c for c in changes if other_env(c) is not None], edits, pin, written)
    drop_written_paths(edits, plan)
    edits.pipx_commands.sort(key=lambda command: " inject " in command)   # each app before what goes into it
    if edits.pipx_commands and not _installs_pipx(plan, edits):
        # The pipx calls need a pipx: the rebuild gets one in install.python's environment.
        edits.new_installs.setdefault("pip", []).append("pipx")
        edits.notes.append(Note("warning", "the pipx calls need pipx and build.envd installs none: adding pip pipx"))
    edits.added += [Added(manager, entry, entry=entry) for manager, entries in edits.new_installs.items()
                    for entry in entries]
    place_new_packages(edits, plan, source, into_state)
    if edits.uninstall_commands or edits.pipx_commands or edits.env_commands or any(edits.new_installs.values()):
        edits.insert_at = insertion_index(plan, source, envd_file, edits.notes)
    return edits


def _installs_pipx(plan: Plan, edits: Edits) -> bool:
    """Whether the rebuilt file installs pipx: a pip or apt call of the plan or of this sync names it,
    or a run command installs it."""
    named = [(manager, str(n)) for s in plan.steps if (manager := MANAGER_OF_KIND.get(s.kind)) in ("pip", "apt")
             for n in s.args.get("name") or []]
    named += [(manager, e) for manager, entries in edits.new_installs.items() if manager in ("pip", "apt")
              for e in entries]
    if any((r := parse_requirement(m, n)) is not None and r.name == "pipx" for m, n in named):
        return True
    return any(re.search(r"\binstall\b.*\bpipx\b", c) and pipx_written(c) is None and not c.startswith(PIPX)
               for _, c in run_commands_of(plan))


def pipx_edit(change: NetChange, edits: Edits, pin: str, written: list[tuple[int, str]],
              literals: dict[str, RunLiteral]) -> None:
    """A package of a pipx app's venv: the pipx call that installs it (app or injected) is edited where
    it is written when its version changed, removed when it was uninstalled, else written anew."""
    key = pipx_key(change)
    calls = [c for _, c in written if pipx_written(c) == key]
    current = calls[-1] if calls else None
    literal = literals.get(current) if current is not None else None
    in_place = literal is not None and literal.count == 1
    if change.removed:
        if current is None or current in edits.run_replaced:
            return   # nothing of it written (a dependency of the app's venv, or an app made and gone in the window)
        if in_place and literal.removable:
            edits.run_replaced[current] = None
            edits.notes.append(Note("edit", f"removed `{current}`: pipx {key[0]} {'was uninstalled' if key[0] == key[1] else f'no longer has {key[1]}'}"))
        elif (command := pipx_removal(change)) not in edits.pipx_commands and all(command != c for _, c in written):
            edits.pipx_commands.append(command)
            edits.added.append(Added(change.manager, change.name, command=command))
            edits.notes.append(Note("edit", f"added `{command}` ({current!r} cannot be edited where it is written)"))
        return
    command = pipx_command(change, pin) if change.requested or current is not None else None
    if command is None or command == current:
        return
    if current is None:
        if command not in edits.pipx_commands and all(command != c for _, c in written):
            edits.pipx_commands.append(command)
            edits.added.append(Added(change.manager, change.name, command=command))
            edits.notes.append(Note("edit", f"added `{command}`: pip {change.name} is a pipx app's, rebuilt in /opt/pipx"))
    elif in_place:
        edits.run_replaced[current] = command
        edits.notes.append(Note("edit", f"`{current}` -> `{command}`"))
    elif (forced := pipx_forced(change, pin)) not in edits.pipx_commands and all(forced != c for _, c in written):
        edits.pipx_commands.append(forced)
        edits.added.append(Added(change.manager, change.name, command=forced))
        edits.notes.append(Note("edit", f"added `{forced}` ({current!r} cannot be edited where it is written)"))


def other_env_edits(changes: list[NetChange], edits: Edits, pin: str, written: list[tuple[int, str]]) -> None:
    """Packages of another venv or conda environment: a run that creates the environment (from the
    interpreter a venv was made by, with a conda environment's channels) and installs what was asked
    for there, pinned; an environment a run of the file creates already gets installs and removals."""
    groups: dict[OtherEnv, list[NetChange]] = {}
    for change in sorted(changes, key=lambda c: c.last_id):
        groups.setdefault(other_env(change), []).append(change)
    commands = [c for _, c in written]
    for env, group in groups.items():
        created = any(c == env.creates or c.startswith(env.creates + " ") for c in commands + edits.env_commands)
        wanted = [c for c in group if not c.removed and c.requested]
        entries = [other_env_entry(c, pin) for c in wanted]
        channels = []
        for c in wanted:
            url = typed_url_channel(c)
            if url and url not in channels:
                channels.append(url)
        gone = [c.name for c in group if c.removed] if created else []
        if not created:
            new = env.creation(entries, channels) if entries else []
        else:
            new = ([env.installs(entries, channels)] if entries else []) + ([env.removes(gone)] if gone else [])
        new = [c for c in new if c not in commands]
        if not new:
            continue
        edits.env_commands += new
        first = (wanted or [c for c in group if c.removed])[0]
        edits.added += [Added(first.manager, first.name, command=command) for command in new]
        what = ", ".join(entries) or ", ".join(f"no {name}" for name in gone)
        edits.notes.append(Note("edit", f"added run({new!r}): {env.describe()} with {what}"
                                        + ("" if created else ", recreated by the rebuild")))


def drop_written_paths(edits: Edits, plan: Plan) -> None:
    """New entries the plan already names as written (`./vendor/mylib`: a path is no name a
    declaration can be matched by), so a second sync of the same changes adds nothing."""
    for manager, entries in edits.new_installs.items():
        kind = KIND_OF_MANAGER.get(manager)
        written = {str(n) for step in plan.steps if step.kind == kind for n in step.args.get("name") or []}
        edits.new_installs[manager] = [e for e in entries if e not in written or parse_requirement(manager, e)]


def insertion_index(plan: Plan, source: SourceMap, envd_file: Path, notes: list[Note]) -> int:
    """Where new calls go in the target's body: after the last statement that made a step (itself,
    or through a helper of this file or a loaded one), so after everything they may undo or need,
    and before the first statement after it that can return (`if FAST: return`)."""
    body = source.body
    lines = [s.position.line for s in plan.steps if same_file(s.position.file, envd_file, plan)]
    helpers = _functions_making_steps(source, lines, elsewhere=len(lines) < len(plan.steps))
    # A step's own line proves its statement ran; a helper call counts until something may have returned.
    ran = [i for i, s in enumerate(body) if any(s.start <= line <= s.end for line in lines)]
    last = ran[-1] if ran else -1
    for i in range(last + 1, len(body)):
        if body[i].calls & helpers:
            last = i
        if body[i].may_return:
            break
    if last >= 0 and body[last].may_return:
        notes.append(Note("warning", f"line {body[last].start} may return from {source.target.name.value}() "
                                     "before the new calls; they are written after it"))
    return next((i for i in range(last + 1, len(body)) if body[i].may_return), len(body))


def _functions_making_steps(source: SourceMap, lines: list[int], *, elsewhere: bool) -> frozenset[str]:
    """The names whose call makes a step: module-level functions holding a step's line, the loaded
    names when a step comes from another file, and whatever calls one of those."""
    target = source.target.name.value
    found = {name for name, f in source.functions.items()
             if name != target and any(f.start <= line <= f.end for line in lines)}
    if elsewhere:
        found |= source.loaded
    while True:
        more = {name for name, f in source.functions.items() if name != target and f.calls & found} - found
        if not more:
            return frozenset(found)
        found |= more


def run_commands_of(plan: Plan) -> list[tuple[int, str]]:
    """(step index, command) of every run step, to see whether an uninstall is already written."""
    return [(order, str(command)) for order, step in enumerate(plan.steps) if step.kind == "run"
            for command in step.args.get("commands") or []]


def one_per_package(changes: list[NetChange]) -> list[NetChange]:
    """One net change per (manager, package) from the per-environment ones: while any
    environment still has the package (the venv's six after the system's was removed),
    the declaration stays and follows that copy's version; it goes when every copy went."""
    groups: dict[tuple[str, str], list[NetChange]] = {}
    for change in changes:
        groups.setdefault((change.manager, change.name), []).append(change)
    chosen = []
    for group in groups.values():
        installed = [c for c in group if not c.removed]
        if installed:
            chosen.append(max(installed, key=lambda c: c.last_id))
            continue
        chosen.append(max(group, key=lambda c: c.last_id))
    return sorted(chosen, key=lambda c: c.last_id)


def plan_edits(changes: list[NetChange], declared: list[Declared], pin: str, target: str,
                run_commands: list[tuple[int, str]]) -> Edits:
    by_name: dict[tuple[str, str], list[Declared]] = {}
    for entry in _keep_variables_filled(declared, changes):
        by_name.setdefault((entry.requirement.manager, entry.requirement.name), []).append(entry)
    edits = Edits()
    for change in sorted(changes, key=lambda c: (MANAGERS.index(c.manager) if c.manager in MANAGERS else 9, c.last_id)):
        if change.manager not in KIND_OF_MANAGER:
            continue
        entries = by_name.get((change.manager, change.name), [])
        if change.removed:
            _remove(change, entries, edits, target, run_commands)
        else:
            _keep(change, entries, edits, pin, target, run_commands)
    return edits


def _keep_variables_filled(declared: list[Declared], changes: list[NetChange]) -> list[Declared]:
    """A variable emptied by removals would leave its call with nothing to install (which does not
    build): its entries stay as written, and their removals are appended with that reason."""
    gone = {(c.manager, c.name) for c in changes if c.removed}
    by_site: dict[int, list[Declared]] = {}
    for entry in declared:
        if entry.site is not None and entry.site.via.startswith("variable"):
            by_site.setdefault(id(entry.site), []).append(entry)
    emptied = {key for key, entries in by_site.items()
               if all((e.requirement.manager, e.requirement.name) in gone for e in entries)}
    return [replace(e, site=None, reason=f"removing it would leave {e.site.via} empty (line {e.site.line} needs one)")
            if e.site is not None and id(e.site) in emptied else e for e in declared]



def _remove(change: NetChange, entries: list[Declared], edits: Edits, target: str,
            run_commands: list[tuple[int, str]]) -> None:
    for entry in entries:
        if entry.site is not None:
            edits.of(entry.site).removed.add(entry.index)
            edits.notes.append(Note("edit", f"{entry.site.where}: removed {change.manager} {entry.text}"))
        else:
            command = UNINSTALL[change.manager].format(entry.requirement.name)
            if _uninstalled_after(entry, change, run_commands):
                continue   # an earlier sync already appended it
            if command not in edits.uninstall_commands:
                edits.uninstall_commands.append(command)
                edits.added.append(Added(change.manager, entry.requirement.name, command=command))
            edits.notes.append(Note("warning", f"{change.manager} {change.name} was uninstalled but {entry.reason}: "
                                               f"appending run(commands=[\"{command}\"]) to {target}() instead"))
            edits.notes.append(Note("edit", f"appended `{command}`"))


def _keep(change: NetChange, entries: list[Declared], edits: Edits, pin: str, target: str,
          run_commands: list[tuple[int, str]]) -> None:
    reason = unreproducible(change)
    if reason is not None:
        if change.requested or entries:
            edits.notes.append(Note("warning", f"{change.manager} {change.name} {change.version}: not written: {reason}"))
        return
    if not entries:
        # Debian's own site is dpkg's: a package there came with an apt package (python3-pip brings
        # pip, setuptools, wheel), and the apt call that installed that package reproduces it.
        if change.requested and not (change.manager == "pip" and in_dpkg_site(change.env)):
            edits.new_installs.setdefault(change.manager, []).append(_entry(change, pin))
            channel = conda_channel_url(change)
            if channel and channel not in edits.conda_channels:
                edits.conda_channels.append(channel)
        return
    effective = entries[-1]   # the last declaration is what the build ends up installing
    wanted = _entry(change, pin, effective.requirement.head, effective.requirement.tail)
    if _uninstalled_after(effective, change, run_commands):
        # An earlier sync appended its uninstall; the build must install it again after that.
        edits.notes.append(Note("warning", f"{change.manager} {change.name} was reinstalled after an appended "
                                           f"uninstall: adding {wanted!r} at the end of {target}()"))
        edits.new_installs.setdefault(change.manager, []).append(wanted)
        return
    if wanted == effective.text:
        return
    if effective.site is not None:
        edits.of(effective.site).replaced[effective.index] = wanted
        edits.notes.append(Note("edit", f"{effective.site.where}: {effective.text} -> {wanted}"))
        return
    edits.notes.append(Note("warning", f"{change.manager} {change.name} is now {change.version} but {effective.reason}: "
                                       f"adding {wanted!r} at the end of {target}() instead"))
    edits.new_installs.setdefault(change.manager, []).append(wanted)


def _entry(change: NetChange, pin: str, head: str | None = None, tail: str = "") -> str:
    """The entry to write for CHANGE (envtrack.sync.forms says which form); HEAD/TAIL re-pin a declaration."""
    if change.manager == "pip":
        return pip_entry(change, pin, head, tail)
    if change.manager == "conda":
        return conda_entry(change, pin, head)
    return format_requirement(head or change.name, change.manager, change.version or "", pin)


def _uninstalled_after(entry: Declared, change: NetChange, run_commands: list[tuple[int, str]]) -> bool:
    command = UNINSTALL[change.manager].format(entry.requirement.name)
    return any(order > entry.order and written == command for order, written in run_commands)


def place_new_packages(edits: Edits, plan: Plan, source: SourceMap, into_state: Destination) -> None:
    """Put new packages into the final install call when it is the last statement, else new calls
    (always new calls when the file names states: the final call may build another one)."""
    final = None if plan.states else _final_install_site(plan, source)
    for manager in MANAGERS:
        entries = edits.new_installs.get(manager)
        if not entries:
            continue
        # A URL channel goes into the new call's channel list (the final call's own channels stay its own).
        joins_final = not (manager == "conda" and edits.conda_channels)
        if final is not None and final.kind == KIND_OF_MANAGER[manager] and joins_final:
            edits.of(final).appended.extend(entries)
            edits.new_installs[manager] = []
            edits.notes.append(Note("edit", f"line {final.line}: added {manager} {', '.join(entries)} to the final install call"))
        else:
            channels = f" from channel {', '.join(edits.conda_channels)}" if manager == "conda" and edits.conda_channels else ""
            edits.notes.append(Note("edit", f"added {manager} {', '.join(entries)} in a new call{channels}"))
            if manager == "pip" and not into_state.has_python:
                edits.python_version, why = python_the_base_meets(plan)
                call = f'install.python(version="{edits.python_version}")' if edits.python_version else "install.python()"
                edits.notes.append(Note("edit", f"added {call} before it (pip needs a Python environment{why})"))


def python_the_base_meets(plan: Plan) -> tuple[str, str]:
    """The install.python version to write ("" for envd's default) and why, when not the default:
    the default (3.11) cannot be met on a base whose distribution ships another Python."""
    from envtrack.builtins import BUILTINS
    from envtrack.llb.envd import base_image
    from envtrack.llb.lower import distro_python

    default = next(p.default for p in BUILTINS["install.python"].params if p.name == "version")
    image = base_image(plan)
    shipped = distro_python(image)
    if shipped is None or shipped == default or shipped.startswith(default + "."):
        return "", ""
    return shipped, f"; {image} ships Python {shipped}"


def _final_install_site(plan: Plan, source: SourceMap) -> CallSite | None:
    if not plan.steps:
        return None
    last_step = plan.steps[-1]
    return next((s for s in source.sites if s.is_final_statement and s.kind == last_step.kind
                 and s.line == last_step.position.line), None)

