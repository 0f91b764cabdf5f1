"""The lock file: one JSON object per line, a header first, then one package per line.

Why this shape: every package sits on its own line, so a lock reviews well in `git diff`,
a syntax error points at an exact line and column, and `json` (C-accelerated) reads a
5,000-package lock in a few milliseconds. Rendering is canonical (sorted packages, fixed
key order, no timestamps), so snapshotting the same environment twice gives the same bytes.

    {"envtrack_lock": 1, "image": {...}, "base": {...}, "envd": {...}, "images": {REF: REPO@DIGEST}}

`images` (only when the build read registry images) holds the digest each image reference
resolved to when the environment was built: `up --locked` builds from them.
    {"manager": "apt", "env": "/", "name": "jq", "version": "1.6-2.1", "arch": "amd64", "requested": true}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from envtrack.errors import LocatedError, Position
from envtrack.records import Package, redact_url

LOCK_VERSION = 1
DEFAULT_LOCK = "envtrack.lock"
# `envtrack push` attaches the lock and build.envd to the pushed image as these labels (their text).
LOCK_LABEL = "envtrack.lock"
ENVD_LABEL = "envtrack.envd"
MANAGERS = ("apt", "pip", "conda")

# Field order of a package line; optional text fields are written only when set.
_REQUIRED_TEXT = ("manager", "env", "name", "version")
_OPTIONAL_TEXT = ("arch", "source", "build")


@dataclass(frozen=True)
class ImageRef:
    """An image as the user named it and the engine's ID for it ("" when unknown)."""

    ref: str = ""
    id: str = ""

    def to_json(self) -> dict[str, str]:
        return {"ref": self.ref, "id": self.id}


@dataclass(frozen=True)
class Lock:
    """What an environment held when it was snapshotted."""

    packages: tuple[Package, ...]
    image: ImageRef = ImageRef()        # the environment's image (built by envtrack or given)
    base: ImageRef = ImageRef()         # build.envd's base(image=...)
    envd_file: str = ""                 # build.envd, relative to the lock's directory
    envd_sha256: str = ""
    images: dict[str, str] = field(default_factory=dict)  # registry images the build read: ref -> repo@sha256:...
    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # header keys we do not know

    def header(self) -> dict[str, Any]:
        return {
            "envtrack_lock": LOCK_VERSION,
            "image": self.image.to_json(),
            "base": self.base.to_json(),
            "envd": {"file": self.envd_file, "sha256": self.envd_sha256},
            **({"images": dict(sorted(self.images.items()))} if self.images else {}),
            **self.extra,
        }


def sort_packages(packages: Iterable[Package]) -> tuple[Package, ...]:
    return tuple(sorted(packages, key=lambda p: (p.key, p.version)))


def render_lock(lock: Lock) -> str:
    """The canonical text of a lock: same lock, same bytes."""
    lines = [_dumps(lock.header())]
    lines.extend(_dumps(package_to_json(p)) for p in sort_packages(lock.packages))
    return "\n".join(lines) + "\n"


def package_to_json(package: Package) -> dict[str, Any]:
    record: dict[str, Any] = {name: getattr(package, name) for name in _REQUIRED_TEXT}
    for name in _OPTIONAL_TEXT:
        if getattr(package, name):
            record[name] = getattr(package, name)
    if package.source:
        # The records package redacts already; a lock is shared, so never trust that a caller did.
        record["source"] = redact_url(package.source)
    record["requested"] = bool(package.requested)
    return record


def package_from_json(record: dict[str, Any]) -> Package:
    """A Package from the records package's JSON output or a lock line (unknown keys are ignored)."""
    get = record.get
    return Package(record["manager"], record["name"], record["version"], record["env"],
                   bool(get("requested", False)), get("arch") or "", get("source") or "", get("build") or "")


def parse_lock(text: str, file: str) -> Lock:
    """Read a lock; any defect raises LocatedError naming FILE:LINE:COL."""
    fast = _parse_well_formed(text, file)
    return fast if fast is not None else _parse_checking_each_line(text, file)


def _parse_well_formed(text: str, file: str) -> Lock | None:
    """One json.loads for the whole file; None at the first doubt, so the line-by-line
    reader can report exactly where. Keeps a 5,000-package lock in the low milliseconds."""
    lines = [line for line in text.splitlines() if line.strip()]
    try:
        records = json.loads("[" + ",".join(lines) + "]")
    except ValueError:
        return None
    if len(records) != len(lines):
        return None  # a line held more than one value
    if not records or not isinstance(records[0], dict) or records[0].get("envtrack_lock") != LOCK_VERSION:
        return None
    header = records[0]
    if not all(isinstance(header.get(s, {}), dict) for s in ("image", "base", "envd")):
        return None
    packages, keys = [], set()
    for record in records[1:]:
        if not _well_formed(record):
            return None
        package = package_from_json(record)
        keys.add(package.key)
        packages.append(package)
    if len(keys) != len(packages):
        return None  # a duplicate: let the careful reader say which line
    return _lock_from(header, packages, file)


def _well_formed(record: Any) -> bool:
    # Unrolled on purpose: this runs once per package on the fast path.
    if type(record) is not dict or "envtrack_lock" in record or record.get("manager") not in MANAGERS:
        return False
    env, name, version = record.get("env"), record.get("name"), record.get("version")
    if type(env) is not str or type(name) is not str or type(version) is not str or not (env and name):
        return False
    get = record.get
    return (type(get("arch", "")) is str and type(get("source", "")) is str and type(get("build", "")) is str
            and type(get("requested", False)) is bool)


def _parse_checking_each_line(text: str, file: str) -> Lock:
    header: dict[str, Any] | None = None
    packages: list[Package] = []
    seen: dict[tuple[str, str, str], int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        record = _load_line(line, file, number)
        if header is None:
            header = _check_header(record, line, file, number)
            continue
        package = _check_package(record, line, file, number)
        if package.key in seen:
            raise LocatedError(
                Position(file, number, 1),
                f"duplicate {package.manager} package {package.name!r} in {package.env} "
                f"(first on line {seen[package.key]})",
            )
        seen[package.key] = number
        packages.append(package)
    if header is None:
        raise LocatedError(Position(file, 1, 1), "empty lock file: expected an envtrack lock header")
    return _lock_from(header, packages, file)


def _dumps(value: Any) -> str:
    # ensure_ascii=False keeps non-ASCII names readable; separators match json.dumps defaults.
    return json.dumps(value, ensure_ascii=False)


def _load_line(line: str, file: str, number: int) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise LocatedError(Position(file, number, error.colno), f"invalid JSON: {error.msg}") from None
    if not isinstance(record, dict):
        raise LocatedError(Position(file, number, 1), "expected a JSON object on this line")
    return record


def _check_header(record: dict[str, Any], line: str, file: str, number: int) -> dict[str, Any]:
    version = record.get("envtrack_lock")
    if version is None:
        raise LocatedError(
            Position(file, number, 1),
            'not an envtrack lock: the first line must be the header {"envtrack_lock": 1, ...}',
        )
    if version != LOCK_VERSION:
        raise LocatedError(
            Position(file, number, 1),
            f"unsupported lock version {version!r} (this envtrack reads version {LOCK_VERSION})",
        )
    for section in ("image", "base", "envd"):
        if not isinstance(record.get(section, {}), dict):
            raise LocatedError(Position(file, number, _column_of(section, line)),
                               f"header field {section!r} must be an object")
    return record


def _check_package(record: dict[str, Any], line: str, file: str, number: int) -> Package:
    if "envtrack_lock" in record:
        raise LocatedError(Position(file, number, 1), "a second lock header; was a lock pasted into another?")
    for name in _REQUIRED_TEXT:
        if name not in record:
            raise LocatedError(Position(file, number, 1), f"package is missing {name!r}")
    for name in (*_REQUIRED_TEXT, *_OPTIONAL_TEXT):
        if name in record and not isinstance(record[name], str):
            raise LocatedError(Position(file, number, _column_of(name, line)), f"{name!r} must be a string")
    for name in ("manager", "env", "name"):  # a version may be empty: broken metadata is still a fact
        if not record[name]:
            raise LocatedError(Position(file, number, _column_of(name, line)), f"{name!r} must not be empty")
    if record["manager"] not in MANAGERS:
        raise LocatedError(
            Position(file, number, _column_of("manager", line)),
            f"unknown manager {record['manager']!r} (expected one of: {', '.join(MANAGERS)})",
        )
    if not isinstance(record.get("requested", False), bool):
        raise LocatedError(Position(file, number, _column_of("requested", line)), "'requested' must be true or false")
    return package_from_json(record)


def _column_of(key: str, line: str) -> int:
    """1-based column of `"key"` in the line (1 when not found)."""
    index = line.find(f'"{key}"')
    return index + 1 if index >= 0 else 1


def _lock_from(header: dict[str, Any], packages: list[Package], file: str) -> Lock:
    image, base, envd = header.get("image", {}), header.get("base", {}), header.get("envd", {})
    known = {"envtrack_lock", "image", "base", "envd", "images"}
    images = header.get("images") if isinstance(header.get("images"), dict) else {}
    return Lock(
        packages=tuple(packages),
        image=ImageRef(str(image.get("ref", "")), str(image.get("id", ""))),
        base=ImageRef(str(base.get("ref", "")), str(base.get("id", ""))),
        envd_file=str(envd.get("file", "")),
        envd_sha256=str(envd.get("sha256", "")),
        images={str(ref): str(digest) for ref, digest in images.items()},
        extra={k: v for k, v in header.items() if k not in known},
    )
