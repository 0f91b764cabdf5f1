"""Reading envd files: the one place their bytes are read, checked, decoded and fingerprinted.

A command reads build.envd (and each file it loads) once: the bytes read here are the bytes
the evaluator runs (bounded.py hands the parent's reads to its child) and the bytes whose
`source_digest` the build stamp, the image label and `up`'s runtime cache record.
"""

from __future__ import annotations

import re

from envtrack.errors import EnvtrackError, LocatedError, Position

MAX_SOURCE_BYTES = 16 * 1024 * 1024   # an envd file (or a loaded one) larger than this is refused

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def read_source(path: str, name: str, where: Position | None = None) -> bytes:
    """The bytes of the envd file at PATH (absolute), called NAME in messages; a one-line error
    (at WHERE, the load or include that asked for it, when there is one) when it cannot be read."""
    try:
        return _read_regular_file(path)
    except FileNotFoundError:
        message = f"cannot load {name}: no such file"
    except IsADirectoryError:
        message = f"cannot load {name}: is a directory"
    except OSError as error:
        message = f"cannot read {name}: {error.strerror}"
    if where is None:
        raise EnvtrackError(message, exit_code=2)
    raise LocatedError(where, message)


def source_digest(data: bytes) -> str:
    """The fingerprint of an envd file's bytes (sha256, hex)."""
    import hashlib   # not at import: OpenSSL's load would be paid by every command that imports this

    return hashlib.sha256(data).hexdigest()


def decode_source(name: str, data: bytes) -> str:
    """DATA as text; a LocatedError at the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise LocatedError(byte_position(name, data, error.start), f"not UTF-8 text ({error.reason})") from None


def offset_position(file: str, text: str, offset: int) -> Position:
    """The line and column of character OFFSET; CR, LF and CRLF all end a line, as for Starlark."""
    lines = _LINE_BREAK.split(text[:offset])
    return Position(file, len(lines), len(lines[-1]) + 1)


def byte_position(file: str, data: bytes, offset: int) -> Position:
    """The line and column (in characters) of byte OFFSET of DATA."""
    before = data[:offset].decode("utf-8", "replace")
    return offset_position(file, before, len(before))


def _read_regular_file(path: str) -> bytes:
    """The bytes of PATH, refusing FIFOs, devices and oversized files (they would block or never end)."""
    import os
    import stat

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(path)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(0, "not a regular file")
        if info.st_size > MAX_SOURCE_BYTES:
            raise OSError(0, f"larger than {MAX_SOURCE_BYTES // (1024 * 1024)} MiB")
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read(MAX_SOURCE_BYTES + 1)
    finally:
        os.close(fd)
