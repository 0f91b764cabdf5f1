"""Errors every layer raises; the CLI turns them into one line and an exit code."""

from __future__ import annotations

from collections import namedtuple


class EnvtrackError(Exception):
    """A failure the user can act on. `exit_code` is what the CLI exits with."""

    exit_code = 1

    def __init__(self, message: str, *, exit_code: int | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def report(self) -> str:
        """What the CLI prints: `envtrack: message` (located errors bare), then an optional hint."""
        text = self.message if isinstance(self, LocatedError) else f"envtrack: {self.message}"
        return f"{text}\nhint: {self.hint}" if self.hint else text


class Position(namedtuple("Position", "file line column")):
    """A place in a source file, 1-based like compilers print it: file (str), line, column (int).

    A plain namedtuple rather than a dataclass or typing.NamedTuple: every command imports
    this module, and the dataclasses and typing modules cost more start-up time than
    `envtrack exec` has to spare next to `docker exec`."""

    __slots__ = ()

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class LocatedError(EnvtrackError):
    """Bad input at a known place: printed as `FILE:LINE:COL: message`, exit 2."""

    exit_code = 2

    def __init__(self, position: Position, message: str):
        super().__init__(f"{position}: {message}")
        self.position = position
        self.reason = message
