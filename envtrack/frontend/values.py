"""How big a value build.envd may hand envtrack, and what stands in for one it may not.

Pure, standard library only. The bounds are checked on the Starlark side (prelude.py),
before starlark-go converts a value to Python: converting `range(1000000000)` alone
takes seconds and a gigabyte, and some values (functions, sets) cannot be converted.
"""

from __future__ import annotations

import re

MAX_ITEMS = 100_000          # items in one argument, nested lists and dicts counted in
MAX_TEXT = 16 * 1024 * 1024  # characters in one argument's strings, as many as a whole envd file may hold
MAX_INT = 1 << 63            # ints are smaller in magnitude (ports, ids, counts: far smaller)
MAX_MESSAGE = 2000           # characters of one error message: `fail(str(list(range(10000000))))` is not 89 MB

_BOUNDED_TAIL = "... ({total} characters in all)"
_IS_BOUNDED = re.compile(r"\.\.\. \(\d+ characters in all\)\Z")


class Unconvertible:
    """An argument the Starlark side kept from Python, described as messages name kinds
    (`range`, `list containing function`, `list of more than 100000 items`)."""

    __slots__ = ("kind",)

    def __init__(self, kind: str):
        self.kind = kind

    def __repr__(self) -> str:
        return f"<{self.kind}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unconvertible) and other.kind == self.kind

    def __hash__(self) -> int:
        return hash(self.kind)


def bounded_text(message: str) -> str:
    """MESSAGE cut to MAX_MESSAGE characters, saying how long it was (once: a cut message stays as it is)."""
    if len(message) <= MAX_MESSAGE or (_IS_BOUNDED.search(message) and len(message) <= MAX_MESSAGE + 64):
        return message
    return message[:MAX_MESSAGE] + _BOUNDED_TAIL.format(total=len(message))


def bounded_tail_format() -> str:
    """The tail `bounded_text` appends, as a Starlark %-format of the total length."""
    return _BOUNDED_TAIL.replace("{total}", "%d")
