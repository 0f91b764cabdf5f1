"""Prepare, on the host, the directory the agent runs from inside containers.

The container may have no network, so the agent's code and its pure-Python dependencies
are copied from the host's installed packages into one directory, bind-mounted read-only.
Host-side only (not imported by the agent).
"""

from __future__ import annotations

import filecmp
import hashlib
import importlib.util
import os
from pathlib import Path

from envtrack.fsutil import write_atomic

# What `import sqlite_utils, watchdog.observers` pulls in beyond the standard library.
DEPENDENCIES = ("watchdog", "sqlite_utils", "sqlite_fts4", "pluggy", "click", "dateutil")
OPTIONAL_DEPENDENCIES = ("six",)  # only python-dateutil < 4 imports it
_OWN_FILES = ("__init__.py", "records.py", "journal/__init__.py", "journal/db.py")
_OWN_DIRS = ("agent",)
MANIFEST = ".envtrack-bundle-manifest"  # what the bundle was last copied from


def default_bundle_dir() -> Path:
    """One bundle per envtrack installation: two checkouts on one machine must not overwrite
    each other's agent under running containers (a container runs the agent of its `up`)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    install = hashlib.sha256(str(Path(__file__).resolve().parent.parent).encode()).hexdigest()[:12]
    return Path(cache) / "envtrack" / f"agent-bundle-{install}"


def prepare_bundle(dest: Path | None = None) -> Path:
    """Copy (in place, only what changed) the agent and its dependencies into DEST.

    In place, because running containers bind-mount DEST itself: replacing the directory
    would leave them looking at the old one.
    """
    dest = Path(dest or default_bundle_dir())
    dest.mkdir(parents=True, exist_ok=True)
    pairs = list(_sources(dest))
    # Comparing every file's bytes costs more than all the rest of a repeated `up`: when no
    # source changed size or time since the last copy, and the copy is still there, it is current.
    manifest = "\n".join(f"{source}\t{_stat_key(source)}\t{target}" for source, target in pairs)
    marker = dest / MANIFEST
    try:
        if marker.read_text() == manifest and all(target.exists() for _, target in pairs):
            return dest
    except OSError:
        pass
    for source, target in pairs:
        _sync_file(source, target)
    try:
        write_atomic(marker, manifest, 0o644)
    except OSError:
        pass
    return dest


def _sources(dest: Path):
    """(source file, its place in the bundle) for every file the agent needs."""
    package_dir = Path(__file__).resolve().parent.parent
    for name in _OWN_FILES:
        yield package_dir / name, dest / "envtrack" / name
    for name in _OWN_DIRS:
        yield from _tree(package_dir / name, dest / "envtrack" / name)
    for module in DEPENDENCIES + OPTIONAL_DEPENDENCIES:
        origin = _module_origin(module, required=module in DEPENDENCIES)
        if origin is None:
            continue
        if origin.name == "__init__.py":
            yield from _tree(origin.parent, dest / origin.parent.name)
        else:
            yield origin, dest / origin.name


def _stat_key(path: Path) -> str:
    info = path.stat()
    return f"{info.st_size}:{info.st_mtime_ns}"


def _module_origin(module: str, *, required: bool = True) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        if not required:
            return None
        from envtrack.errors import EnvtrackError

        raise EnvtrackError(f"the agent needs {module}, which is not installed here", hint="pip install -e .")
    return Path(spec.origin)


def _tree(source: Path, target: Path):
    for path in sorted(source.rglob("*")):
        if "__pycache__" in path.parts or path.is_dir():
            continue
        yield path, target / path.relative_to(source)


def _sync_file(source: Path, target: Path) -> None:
    if target.exists() and filecmp.cmp(source, target, shallow=False):
        return
    write_atomic(target, source.read_bytes(), 0o644)
