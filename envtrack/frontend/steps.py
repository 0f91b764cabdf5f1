"""What the frontend produces: the user's envd calls, in the order they ran.

A `Step` is one call of an envd builtin (`install.apt_packages(name=[...])`), with its
arguments normalised to envd's argument names and the place in the source that made it.
The lowering into BuildKit states (`envtrack.state`, `envtrack.lower`) and the rewriting
done by `envtrack sync` both start from these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from envtrack.errors import Position


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

    @property
    def label(self) -> str:
        """A short human label, e.g. `install.apt_packages jq curl`."""
        from envtrack.frontend.labels import label_for

        return label_for(self)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "args": self.args,
            "label": self.label,
            "file": self.position.file,
            "line": self.position.line,
            "column": self.position.column,
        }


@dataclass(frozen=True)
class Plan:
    """The evaluated build.envd: its steps in execution order and the sources read."""

    file: str                      # the envd file evaluated, as given (relative paths kept)
    target: str                    # the function called, "build" by default
    steps: tuple[Step, ...]
    sources: dict[str, str] = field(default_factory=dict)  # file -> text, for LLB source maps
