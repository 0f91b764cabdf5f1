"""Where sync puts new calls when build.envd names states. Pure.

The image is what target() returns (or the branch named with `sync --into NAME`): new
install calls and uninstall commands go to that state alone, written `into=` it and
placed before the function's `return` (decide.insertion_index), so every other branch keeps its cache.
A state is named by its variable when the function assigns it itself, else by its name
as a string (a state's value is its name, so both mean the same state).
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from envtrack.errors import EnvtrackError
from envtrack.frontend.steps import MAIN_STATE, Plan


@dataclass(frozen=True)
class Destination:
    state: str
    keyword: str          # ", into=tools" / ', into="merge"' / "" for the main state of a v1 file
    has_python: bool      # a step of this state or of one it is built from is install.python


def destination(plan: Plan, into: str | None, target: cst.FunctionDef, quote: str) -> Destination:
    names = [MAIN_STATE, *(d.name for d in plan.states)]
    state = into or plan.image_state
    if state not in names:
        raise EnvtrackError(f"sync --into {state}: no state named {state!r} (states: {', '.join(names)})",
                            exit_code=2)
    behind = plan.states_behind(state)
    has_python = any(step.kind == "install.python" and (step.state or MAIN_STATE) in behind for step in plan.steps)
    if state == MAIN_STATE:
        return Destination(state, "", has_python)
    definition = next(d for d in plan.states if d.name == state)
    local = definition.variable and _assigned_in(target, definition.variable)
    reference = definition.variable if local else f"{quote}{state}{quote}"
    return Destination(state, f", into={reference}", has_python)


def _assigned_in(function: cst.FunctionDef, variable: str) -> bool:
    """Is VARIABLE assigned directly in FUNCTION's body (so a call at its end can name it)?"""
    for statement in function.body.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.Assign) and any(
                    isinstance(t.target, cst.Name) and t.target.value == variable for t in small.targets):
                return True
    return False

