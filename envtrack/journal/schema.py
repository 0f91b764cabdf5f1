"""The journal's schema version: its number, and reading it from a file without sqlite3.

Every command checks a project's journal before it writes anything (a journal from a newer
envtrack must not get a rewritten build.envd and then a refusal), and `exec` does so too,
so the check reads the 4-byte `user_version` field of the SQLite header directly instead of
loading sqlite3. Shipped into containers with the rest of the journal package: standard
library only, Python 3.8 syntax.
"""

from __future__ import annotations


# Version 0: journals written before the schema had a number (same tables, made by
# sqlite-utils; sync_state added by the host on first sync). Version 1 adds nothing but the
# number, so migrating 0 -> 1 only creates missing tables.
SCHEMA_VERSION = 1

_MAGIC = b"SQLite format 3\x00"
_USER_VERSION = slice(60, 64)   # big-endian, in the database header (sqlite.org/fileformat.html)


def file_schema_version(path) -> "int | None":   # no typing: `exec` reads this on every call
    """The schema version in PATH's header; None when there is no readable SQLite file."""
    try:
        with open(str(path), "rb") as handle:
            head = handle.read(100)
    except OSError:
        return None
    if len(head) < 100 or not head.startswith(_MAGIC):
        return None
    return int.from_bytes(head[_USER_VERSION], "big", signed=True)


def newer_schema_message(where, version: int) -> str:
    return ("%s: journal schema version %d is newer than this envtrack understands (%d): "
            "a newer envtrack wrote it; upgrade this one (nothing was changed)" % (where, version, SCHEMA_VERSION))


def newer_schema(path) -> "str | None":
    """The refusal for PATH when a newer envtrack wrote it, else None."""
    version = file_schema_version(path)
    return newer_schema_message(path, version) if version is not None and version > SCHEMA_VERSION else None
