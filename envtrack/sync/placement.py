"""Does the rebuilt plan reach every call sync wrote, after what it needs? Pure.

Lowering already refuses a pip install before install.python and any step before base();
what it cannot see is an uninstall written before the install it undoes (the package
would stay) or a new call the evaluation never reaches (after a `return`).
"""

from __future__ import annotations

from envtrack.builtins import KIND_OF_MANAGER
from envtrack.frontend.steps import Plan
from envtrack.requirements import parse_requirement
from envtrack.sync.result import Added


def misplaced(plan: Plan, added: tuple[Added, ...]) -> str | None:
    """Why PLAN (the rewritten file's) does not do what sync wrote, or None when it does."""
    for call in added:
        if call.command:
            problem = _uninstall_misplaced(plan, call)
        else:
            kind = KIND_OF_MANAGER[call.manager]
            reached = any(s.kind == kind and call.entry in (s.args.get("name") or []) for s in plan.steps)
            problem = None if reached else f"the new {kind}({call.entry!r}) is never reached"
        if problem:
            return problem
    return None


def _uninstall_misplaced(plan: Plan, call: Added) -> str | None:
    runs = [i for i, s in enumerate(plan.steps) if s.kind == "run" and call.command in (s.args.get("commands") or [])]
    if not runs:
        return f"the new run({call.command!r}) is never reached"
    kind = KIND_OF_MANAGER[call.manager]
    installs = [i for i, s in enumerate(plan.steps) if s.kind == kind and any(
        (r := parse_requirement(call.manager, str(n))) is not None and r.name == call.name
        for n in s.args.get("name") or [])]
    if installs and installs[-1] > runs[-1]:
        line = plan.steps[installs[-1]].position.line
        return f"run({call.command!r}) would run before the install of {call.name} at line {line}"
    return None
