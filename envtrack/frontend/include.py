"""Where `include(git)` finds a repository's envd files: a local directory, or a git clone
kept in envtrack's cache (`file://`, local paths and remote URLs alike).

The I/O shell of include: the rewrite (transform.Include) and evaluation (evaluate.py) are
the rest. Like envd, every `*.envd` file of the repository is run, in path order.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from envtrack.errors import LocatedError, Position

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "envtrack" / "include"


def include_files(url: str, including_file: str, where: Position) -> list[Path]:
    """The envd files of URL, in path order."""
    directory = _directory(url, Path(including_file).parent, where)
    return sorted(p for p in directory.rglob("*.envd") if ".git" not in p.relative_to(directory).parts)


def _directory(url: str, base_dir: Path, where: Position) -> Path:
    local = url[len("file://"):] if url.startswith("file://") else (None if _URL.match(url) else url)
    if local is not None:
        path = Path(os.path.normpath(base_dir / os.path.expanduser(local)))  # as spelt: positions stay short
        if not path.is_dir():
            raise LocatedError(where, f"include: {url}: no such directory")
        if not (path / ".git").exists():
            return path   # a plain directory is read as it is
        url = path.resolve().as_uri()
    cached = cache_root() / hashlib.sha256(url.encode()).hexdigest()[:16]
    if not cached.is_dir():   # cached: a later include of the same URL reads the same commit
        _clone(url, cached, where)
    return cached


def _clone(url: str, target: Path, where: Position) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(dir=target.parent, prefix=".clone-"))
    try:
        done = subprocess.run(["git", "clone", "--quiet", "--depth", "1", url, str(temporary / "repo")],
                              capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as error:
        shutil.rmtree(temporary, ignore_errors=True)
        raise LocatedError(where, f"include: cannot clone {url}: {error}") from None
    if done.returncode != 0:
        shutil.rmtree(temporary, ignore_errors=True)
        last = (done.stderr.strip().splitlines() or ["git failed"])[-1]
        raise LocatedError(where, f"include: cannot clone {url}: {last}")
    os.replace(temporary / "repo", target)
    shutil.rmtree(temporary, ignore_errors=True)
