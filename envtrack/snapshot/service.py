"""What `envtrack snapshot` and `envtrack diff` do, apart from printing: lock a project's
running environment, check it against its lock, write the lock only when it changed, and
compare any two of locks, images and running environments."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from envtrack.endpoints import EngineEndpoint
from envtrack.fsutil import write_atomic
from envtrack.project import Project
from envtrack.snapshot.diff import Diff, diff_packages
from envtrack.snapshot.lock import Lock, render_lock
from envtrack.snapshot.report import Side, drift_notes

MANAGERS = ("apt", "pip", "conda")  # the order locks are counted in


@dataclass(frozen=True)
class Snapshot:
    """What `envtrack snapshot` found: the running environment's lock, and either whether it was
    written to LOCK_PATH or (with --check) how the environment drifted from LOCK_PATH."""

    lock_path: Path
    current: Lock
    written: bool = False
    drift: "Drift | None" = None

    @property
    def counts(self) -> dict[str, int]:
        return package_counts(self.current)


def snapshot(project: Project, output: str | None, *, check: bool, on_progress=None) -> Snapshot:
    """Lock PROJECT's running environment into OUTPUT (default: the project's lock file), or,
    with CHECK, compare it with that lock; under the project lock, so `up` cannot interleave."""
    from envtrack.snapshot.lock import DEFAULT_LOCK
    from envtrack.statedir import project_lock

    lock_path = Path(output) if output else project.dir / DEFAULT_LOCK
    with project_lock(project.state_dir, "snapshot"):
        current = current_lock(project, lock_path, on_progress)
        if check:
            return Snapshot(lock_path, current, drift=check_drift(lock_path, current, project))
        return Snapshot(lock_path, current, written=write_lock(lock_path, current))


@dataclass(frozen=True)
class Compared:
    """What `envtrack diff A B` found: the packages' differences, and each side as read."""

    result: Diff
    a: Side
    b: Side


def compare(a: str, b: str) -> Compared:
    """Read A and B (lock files, images, running environments) and compare their packages. Any
    trouble reading them exits 2, as diff(1) does, whatever its cause."""
    from envtrack.errors import EnvtrackError
    from envtrack.snapshot.sources import Engine, read_side

    try:
        engine = Engine()
        side_a, side_b = read_side(a, engine), read_side(b, engine)
    except EnvtrackError as error:
        raise EnvtrackError(error.message, exit_code=2, hint=error.hint) from None
    return Compared(diff_packages(side_a.lock.packages, side_b.lock.packages), side_a, side_b)


def current_lock(project: Project, lock_path: Path, on_progress=None) -> Lock:
    """The lock of PROJECT's running container, with paths relative to LOCK_PATH's folder."""
    from envtrack.snapshot.sources import Engine, project_lock, running_container

    engine = Engine(project.engine)
    container = running_container(project, engine)
    if on_progress:
        on_progress(f"reading packages in {project.container_name}")
    return project_lock(project, container, engine, lock_dir=lock_path.resolve().parent)


@dataclass(frozen=True)
class Drift:
    """The verdict of `snapshot --check`: the lock (side A) against the running environment (B)."""

    result: Diff
    a: Side
    b: Side
    stale: tuple[str, ...]    # reasons the lock itself is out of date (new base, edited build.envd)
    info: tuple[str, ...]

    @property
    def drifted(self) -> bool:
        return not self.result.equal or bool(self.stale)


def check_drift(lock_path: Path, current: Lock, project: Project) -> Drift:
    from envtrack.snapshot.sources import read_lock_file

    locked = read_lock_file(lock_path)
    stale, info = drift_notes(locked, current)
    moved, unchecked = moved_tags(project.engine, locked.images)
    stale, info = stale + moved, info + unchecked
    return Drift(diff_packages(locked.packages, current.packages), Side(str(lock_path), locked),
                 Side(f"container {project.container_name}", current), tuple(stale), tuple(info))


def moved_tags(endpoint: EngineEndpoint, images: dict[str, str]) -> tuple[list[str], list[str]]:
    """Each locked image whose tag now names another digest in its registry (drift: a new
    `up` would build on it), and the ones that could not be asked (notes)."""
    from envtrack.engine.registry import remote_digest
    from envtrack.errors import EnvtrackError

    moved, unchecked = [], []
    for ref, pinned in sorted(images.items()):
        if "@" in ref:
            continue   # named by digest in build.envd: it cannot move
        try:
            now = remote_digest(endpoint, ref)
        except EnvtrackError as error:
            unchecked.append(f"tag {ref} not checked: {error.message}")
            continue
        if now and now != pinned.rpartition("@")[2]:
            moved.append(f"tag {ref} moved in its registry: {pinned.rpartition('@')[2][:19]} (locked) -> {now[:19]}; "
                         "`up --locked` builds the locked one")
    return moved, unchecked


def write_lock(lock_path: Path, lock: Lock) -> bool:
    """Write LOCK unless LOCK_PATH already holds exactly it; True when written."""
    text = render_lock(lock)
    try:
        if lock_path.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    write_atomic(lock_path, text, 0o644)  # an interrupted snapshot never leaves half a lock
    return True


def package_counts(lock: Lock) -> dict[str, int]:
    return {m: sum(1 for p in lock.packages if p.manager == m) for m in MANAGERS}
