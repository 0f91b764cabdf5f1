"""Prepare, on the host, the directory the agent runs from inside containers.

What ships is decided by package structure: `envtrack.agent.SHIPPED` names whole packages
(the agent, the journal and the installer records), all standard library only, so the
bundle never depends on what else the host happens to have installed. Host-side only (not imported by the agent).
"""

from __future__ import annotations

import filecmp
import hashlib
import os
import shutil
from pathlib import Path

from envtrack import __version__
from envtrack.agent import SHIPPED
from envtrack.fsutil import write_atomic

PACKAGE_DIR = Path(__file__).resolve().parent.parent
# The bundle's envtrack/__init__.py: the host's may grow host-side imports; this one never does.
STUB_INIT = f'"""envtrack\'s agent bundle: the modules that run inside containers."""\n\n__version__ = "{__version__}"\n'


def default_bundle_dir() -> Path:
    """One bundle per envtrack installation: two checkouts on one machine must not overwrite
    each other's agent under running containers (a container runs the agent of its `up`)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    install = hashlib.sha256(str(Path(__file__).resolve().parent.parent).encode()).hexdigest()[:12]
    return Path(cache) / "envtrack" / f"agent-bundle-{install}"


def shipped_files(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """Every file that ships, relative to PACKAGE_DIR (envtrack/): Python sources only."""
    files: list[Path] = []
    for name in SHIPPED:
        path = package_dir / name
        if path.is_dir():
            files += sorted(p.relative_to(package_dir) for p in path.rglob("*.py") if "__pycache__" not in p.parts)
        else:
            files.append(path.relative_to(package_dir))
    return files


def prepare_bundle(dest: Path | None = None) -> Path:
    """Copy (in place, only what changed) the shipped modules into DEST/envtrack.

    In place, because running containers bind-mount DEST itself (read-only): replacing the
    directory would leave them looking at the old one. Files a previous envtrack shipped
    (its own modules, or the third-party packages old bundles carried) are removed.
    """
    dest = Path(dest or default_bundle_dir())
    dest.mkdir(parents=True, exist_ok=True)
    wanted = {dest / "envtrack" / "__init__.py"}
    _write_if_changed(dest / "envtrack" / "__init__.py", STUB_INIT.encode())
    for relative in shipped_files():
        target = dest / "envtrack" / relative
        wanted.add(target)
        _sync_file(PACKAGE_DIR / relative, target)
    _prune(dest, wanted)
    return dest


def _prune(dest: Path, wanted: set[Path]) -> None:
    for path in sorted(dest.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir():
            if not any(path.iterdir()):
                path.rmdir()
        elif path not in wanted and "__pycache__" not in path.parts:
            path.unlink()
    for cache in dest.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


def _sync_file(source: Path, target: Path) -> None:
    if target.exists() and filecmp.cmp(source, target, shallow=False):
        return
    write_atomic(target, source.read_bytes(), 0o644)


def _write_if_changed(target: Path, data: bytes) -> None:
    if target.exists() and target.read_bytes() == data:
        return
    write_atomic(target, data, 0o644)
