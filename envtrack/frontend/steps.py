"""What the frontend produces: the user's envd calls, in the order they ran.

A `Step` is one call of an envd builtin (`install.apt_packages(name=[...])`), with its
arguments normalised to envd's argument names and the place in the source that made it.
The lowering into BuildKit states (`envtrack.state`, `envtrack.llb`) and the rewriting
done by `envtrack sync` both start from these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from envtrack.errors import Position
from envtrack.frontend.labels import label_for

MAIN_STATE = "main"   # the implicit state every step without into= builds (envd v1's only one)


@dataclass(frozen=True)
class Step:
    """One envd builtin call.

    kind: the builtin's envd name, e.g. "base", "install.apt_packages", "run".
    args: keyword arguments by envd's names, defaults filled in; values are JSON-like
          (str, int, bool, None, lists and dicts of those), lists kept in the user's order.
    position: where the call is written (for calls inside helpers: the helper's line).
    """

    kind: str
    args: dict[str, Any]
    position: Position
    state: str | None = None       # the state it builds (into=); None: the main state

    @property
    def label(self) -> str:
        """A short human label, e.g. `install.apt_packages jq curl`."""
        return label_for(self.kind, self.args)

    def to_json(self) -> dict[str, Any]:
        document = {
            "kind": self.kind,
            "args": self.args,
            "label": self.label,
            "file": self.position.file,
            "line": self.position.line,
            "column": self.position.column,
        }
        if self.state is not None:
            document["state"] = self.state
        return document


@dataclass(frozen=True)
class StateDef:
    """A state build.envd made with scratch(), image(), branch(), merge() or diff().

    inputs: the states it starts from, by name: branch (of,), merge (states...), diff (lower, upper).
    variable: the variable its value was assigned to, when the call was `NAME = ...(...)`.
    """

    name: str
    origin: str
    inputs: tuple[str, ...]
    position: Position
    image: str = ""
    variable: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "origin": self.origin, "inputs": list(self.inputs), "image": self.image,
                "file": self.position.file, "line": self.position.line, "column": self.position.column}


@dataclass(frozen=True)
class Plan:
    """The evaluated build.envd: its steps in execution order and the sources read."""

    file: str                      # the envd file evaluated, as given (relative paths kept)
    target: str                    # the function called, "build" by default
    steps: tuple[Step, ...]
    sources: dict[str, str] = field(default_factory=dict)  # file -> text, for LLB source maps
    states: tuple[StateDef, ...] = ()   # empty: the envd v1 style, one implicit main state
    result: str | None = None           # the state target() returned, the image; None: main
    digests: dict[str, str] = field(default_factory=dict)   # absolute path -> source_digest of the bytes evaluated

    @property
    def image_state(self) -> str:
        return self.result or MAIN_STATE

    def states_behind(self, state: str) -> list[str]:
        """STATE and every state it is built from, inputs first (the frontend refused cycles)."""
        inputs_of = {d.name: d.inputs for d in self.states}
        order: list[str] = []
        stack: list[tuple[str, bool]] = [(state, False)]
        while stack:
            name, expanded = stack.pop()
            if name in order:
                continue
            if expanded:
                order.append(name)
                continue
            stack.append((name, True))
            stack.extend((i, False) for i in reversed(inputs_of.get(name, ())) if i not in order)
        return order

    def steps_of(self, state: str) -> tuple[Step, ...]:
        """The steps that build STATE, in the order they ran."""
        wanted = None if state == MAIN_STATE else state
        return tuple(step for step in self.steps if step.state == wanted)
