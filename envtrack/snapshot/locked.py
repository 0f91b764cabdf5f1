"""`envtrack up --locked [LOCK]`: build the project with every requested package pinned.

The hook `up` calls: `build_locked(project, lock_path, progress=...)` returns C2's BuildResult.
When the build fails because a pinned version is gone (a mirror moved on, a release was
yanked), the error names that package and version instead of the installer's log.
"""

from __future__ import annotations

import re
from pathlib import Path

from envtrack.errors import EnvtrackError
from envtrack.project import Project
from envtrack.snapshot.lock import DEFAULT_LOCK
from envtrack.snapshot.pin import Pin, pin_plan

# What each installer prints when a pinned version does not exist; {name}/{version} are escaped.
_MISSING = {
    "apt": [r"Version '{version}' for '{name}' was not found", r"Unable to locate package {name}\b"],
    "pip": [r"No matching distribution found for {name}(\[[^\]]*\])?=={version}",
            r"Could not find a version that satisfies the requirement {name}(\[[^\]]*\])?=={version}"],
    "conda": [r"PackagesNotFoundError[\s\S]*{name}[=\s]+{version}", r"ResolvePackageNotFound[\s\S]*{name}"],
}


def resolve_lock_path(project: Project, lock: str | None) -> Path:
    """`--locked` with no value means envtrack.lock beside build.envd."""
    return Path(lock) if lock else project.dir / DEFAULT_LOCK


def split_up_arguments(file: str | None, lock: str | None) -> tuple[str | None, str | None]:
    """`envtrack up --locked team.lock`: the CLI reads team.lock as up's FILE argument
    (a flag cannot take an optional value), so a FILE that is a lock file is the lock."""
    if file and lock is None and _looks_like_lock(Path(file)):
        return None, file
    return file, lock


def _looks_like_lock(path: Path) -> bool:
    if path.suffix == ".lock":
        return True
    if not path.is_file() or path.suffix == ".envd":
        return False
    with path.open("rb") as handle:
        return handle.read(64).lstrip().startswith(b'{"envtrack_lock"')


def build_locked(project: Project, lock_path: Path, **build_options):
    """Build with the lock's versions, and each image from the digest the lock's build read (a
    moved tag changes nothing); BuildResult as from envtrack.solve.service.build_project."""
    from envtrack.frontend import load_plan
    from envtrack.snapshot.sources import read_lock_file
    from envtrack.solve.service import build_project

    lock = read_lock_file(lock_path)
    pinned = pin_plan(load_plan(project.envd_file), lock, str(lock_path))
    try:
        return build_project(project, plan=pinned.plan, pins=lock.images, **build_options)
    except EnvtrackError as error:
        raise explain_failure(error, pinned.pins, lock_path) from error


def explain_failure(error: EnvtrackError, pins: tuple[Pin, ...], lock_path: Path) -> EnvtrackError:
    """Name the pinned package whose version could not be installed, when the log shows it."""
    text = "\n".join(filter(None, [error.message, getattr(error, "log", None) or ""]))
    missing = [pin for pin in pins if pin.version and _is_missing(pin, text)]
    if not missing:
        return error
    listed = ", ".join(f"{p.manager} {p.name} {p.version}" for p in missing)
    return EnvtrackError(
        f"pinned version not available: {listed} (from {lock_path})",
        hint="the package index no longer offers it; refresh the lock with `envtrack up` "
             "then `envtrack snapshot`, or install a version that exists",
    )


def _is_missing(pin: Pin, text: str) -> bool:
    # pip prints the name as written (typing_extensions), the pin holds it canonical (typing-extensions)
    name = "[-_.]+".join(re.escape(part) for part in re.split(r"[-_.]+", pin.name))
    version = re.escape(pin.version)
    patterns = _MISSING.get(pin.manager, [])
    return any(re.search(p.format(name=name, version=version), text, re.IGNORECASE) for p in patterns)
