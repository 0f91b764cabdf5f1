"""States as values in build.envd: `scratch()`, `image()`, `branch()`, `merge()`, `diff()`.

starlark-go gives a Python callback no way to hand Starlark an object with methods,
so a state is named by a string: each of these functions returns its state's name,
and every build builtin takes `into=STATE` (the value, or the same name written as a
string) to add its step to that state instead of the implicit main one. A state is
everything its origin gives plus every step written `into=` it, wherever in the file;
so references are resolved once the file has run, which is also when unknown names
and cycles (`branch(of="b", name="a")` with `branch(of="a", name="b")`) are reported,
at the call that made them.

Pure bookkeeping: the evaluator passes positions in and turns LocatedError into its
own error flow; lowering (envtrack.llb.graph) decides what the states become.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from envtrack.errors import LocatedError, Position
from envtrack.frontend.steps import MAIN_STATE, StateDef
from envtrack.frontend.values import Unconvertible

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_ASSIGNED = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*$")


@dataclass(frozen=True)
class Signature:
    """A state function's parameters, in positional order; REQUIRED marks the ones without default."""

    params: tuple[tuple[str, Any], ...]


REQUIRED = object()

# kind -> its parameters; `name` names the state (default: the variable it is assigned to).
STATE_FUNCTIONS: dict[str, Signature] = {
    "scratch": Signature((("name", ""),)),
    "image": Signature((("ref", REQUIRED), ("name", ""))),
    "branch": Signature((("of", MAIN_STATE), ("name", ""))),
    "merge": Signature((("states", REQUIRED), ("name", ""))),
    "diff": Signature((("lower", REQUIRED), ("upper", REQUIRED), ("name", ""))),
}

# Builtins that describe the image or the main state as a whole: they take no `into=`.
NOT_INTO = frozenset({"base", "shell", "runtime.environ", "runtime.expose", "runtime.command",
                      "config.ca_certificates"})


def bind(kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Map one call's arguments onto KIND's parameters; ValueError says what is wrong."""
    params = STATE_FUNCTIONS[kind].params
    if len(args) > len(params):
        raise ValueError(f"{kind}: got {len(args)} positional arguments, want at most {len(params)}")
    bound = {name: value for (name, _), value in zip(params, args)}
    known = [name for name, _ in params]
    for key, value in kwargs.items():
        if key not in known:
            raise ValueError(f"{kind}: unexpected keyword argument {key!r} (parameters: {', '.join(known)})")
        if key in bound:
            raise ValueError(f"{kind}: got multiple values for argument {key!r}")
        bound[key] = value
    for name, default in params:
        if name not in bound:
            if default is REQUIRED:
                raise ValueError(f"{kind}: missing argument {name!r}")
            bound[name] = default
    if not isinstance(bound["name"], str):
        name = bound["name"]
        raise ValueError(f"{kind}: name must be a string, got {name.kind if isinstance(name, Unconvertible) else type(name).__name__}")
    return bound


@dataclass(frozen=True)
class _Reference:
    """A state named by a call (an input of merge/diff/branch, or an `into=`), checked at the end."""

    name: str
    position: Position
    role: str            # e.g. "merge: input 2", "into"


class StateRegistry:
    """The states one evaluation defines, in definition order, and the references to them."""

    def __init__(self, sources: dict[str, str]):
        self.sources = sources           # file -> text, to read the assigned variable
        self.defs: dict[str, StateDef] = {}
        self.references: list[_Reference] = []
        self.counter = 0

    # -- the functions build.envd calls -------------------------------------------

    def define(self, kind: str, position: Position, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        try:
            bound = bind(kind, args, kwargs)
        except ValueError as error:
            raise LocatedError(position, str(error)) from None
        name = self._new_name(kind, bound["name"], position)
        inputs = self._inputs(kind, bound, position)
        image = ""
        if kind == "image":
            if not isinstance(bound["ref"], str) or not bound["ref"].strip():
                raise LocatedError(position, f"image: ref must be an image reference string, got {_describe(bound['ref'])}")
            image = bound["ref"]
        self.defs[name] = StateDef(name=name, origin=kind, inputs=inputs, image=image, position=position,
                                   variable=self._assigned_variable(position) or "")
        return name

    def into(self, kind: str, value: Any, position: Position) -> str | None:
        """The state an `into=` names (None: the main state)."""
        if kind in NOT_INTO:
            raise LocatedError(position, f"{kind}: into= is not accepted: it applies to the image as a whole")
        if value is None:
            return None
        name = self._state_name(value, position, f"{kind}: into")
        return None if name == MAIN_STATE else name

    def result(self, value: Any, position: Position, target: str) -> str | None:
        """What `target()` returned: None (the main state is the image) or a state."""
        if value is None:
            return None
        name = self._state_name(value, position, f"{target}() returned")
        return None if name == MAIN_STATE else name

    # -- at the end ----------------------------------------------------------------

    def check(self) -> tuple[StateDef, ...]:
        """Resolve every reference and refuse cycles; the states in definition order."""
        for reference in self.references:
            if reference.name != MAIN_STATE and reference.name not in self.defs:
                raise LocatedError(reference.position, f"{reference.role}: no state named {reference.name!r}"
                                   + _suggest(reference.name, [MAIN_STATE, *self.defs]))
        for name in self.defs:
            self._refuse_cycle(name)
        return tuple(self.defs.values())

    def _refuse_cycle(self, start: str) -> None:
        path = [start]
        stack = [(start, iter(self.defs[start].inputs))]
        while stack:
            current, pending = stack[-1]
            child = next(pending, None)
            if child is None:
                stack.pop()
                path.pop()
                continue
            if child == start:
                chain = " -> ".join([*path, start])
                raise LocatedError(self.defs[start].position, f"{self.defs[start].origin}: state cycle: {chain}")
            if child in self.defs and child not in path:
                path.append(child)
                stack.append((child, iter(self.defs[child].inputs)))

    # -- helpers -------------------------------------------------------------------

    def _inputs(self, kind: str, bound: dict[str, Any], position: Position) -> tuple[str, ...]:
        if kind == "branch":
            return (self._state_name(bound["of"], position, "branch: of"),)
        if kind == "diff":
            lower = self._state_name(bound["lower"], position, "diff: lower")
            upper = self._state_name(bound["upper"], position, "diff: upper")
            if lower == upper:
                raise LocatedError(position, f"diff: lower and upper are both {lower!r}; the diff would be empty")
            return (lower, upper)
        if kind == "merge":
            states = bound["states"]
            if not isinstance(states, (list, tuple)):
                raise LocatedError(position, f"merge: states must be a list of states, got {_describe(states)}")
            if len(states) < 2:
                raise LocatedError(position, f"merge: give at least two states, got {len(states)}")
            names = tuple(self._state_name(s, position, f"merge: item {i + 1}") for i, s in enumerate(states))
            repeated = next((n for i, n in enumerate(names) if n in names[:i]), None)
            if repeated is not None:
                raise LocatedError(position, f"merge: state {repeated!r} is listed twice")
            return names
        return ()

    def _state_name(self, value: Any, position: Position, role: str) -> str:
        if not isinstance(value, str) or isinstance(value, bool):
            raise LocatedError(position, f"{role}: {_describe(value)} is not a state "
                                         "(use what scratch(), image(), branch(), merge() or diff() return)")
        self.references.append(_Reference(value, position, role))
        return value

    def _new_name(self, kind: str, explicit: str, position: Position) -> str:
        if explicit:
            if not _NAME.match(explicit):
                raise LocatedError(position, f"{kind}: state name {explicit!r} must be letters, digits, _ . -")
            if explicit == MAIN_STATE or explicit in self.defs:
                where = f" (defined at {self.defs[explicit].position})" if explicit in self.defs else ""
                raise LocatedError(position, f"{kind}: a state named {explicit!r} already exists{where}")
            return explicit
        base = self._assigned_variable(position) or kind
        name, number = base, 1
        while name in self.defs or name == MAIN_STATE:
            number += 1
            name = f"{base}-{number}"
        return name

    def _assigned_variable(self, position: Position) -> str | None:
        """`tools = branch()` -> "tools": the variable the call's value is assigned to."""
        lines = self.sources.get(position.file, "").split("\n")
        if not 0 < position.line <= len(lines):
            return None
        found = _ASSIGNED.match(lines[position.line - 1][: position.column - 1])
        return found.group(1) if found else None


def _describe(value: Any) -> str:
    if isinstance(value, Unconvertible):   # the prelude kept it in Starlark and said what it is
        return f"a {value.kind}"
    if value is None:
        return "None"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "a bool"
    return f"a {type(value).__name__}" if not isinstance(value, (list, tuple, dict)) else f"a {type(value).__name__} {value!r}"[:80]


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (states: {', '.join(known)})"
