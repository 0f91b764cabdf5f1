"""What a rewrite produced: the new text and notes for the user (kept free of libcst)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Note:
    """One thing sync did or could not do, for the user."""

    level: str        # "edit" | "warning"
    message: str


@dataclass(frozen=True)
class Added:
    """A call sync writes that the rebuilt plan must reach: an install of ENTRY, or the
    uninstall COMMAND of NAME (which must run after every install naming it)."""

    manager: str
    name: str
    entry: str = ""
    command: str = ""


@dataclass(frozen=True)
class Rewrite:
    text: str
    notes: tuple[Note, ...]
    added: tuple[Added, ...] = ()

    @property
    def changed(self) -> bool:
        return any(n.level == "edit" for n in self.notes)

    @property
    def warnings(self) -> tuple[Note, ...]:
        return tuple(n for n in self.notes if n.level == "warning")
