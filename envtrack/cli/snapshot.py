"""`envtrack snapshot` (lock the running environment, or check it against the lock) and
`envtrack diff A B` (compare locks, images and running environments)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from envtrack.cli.app import app, fail
from envtrack.errors import EnvtrackError
from envtrack.fsutil import write_atomic


@app.command()
def snapshot(
    file: Optional[str] = typer.Argument(None, help="build.envd or its directory (default: current directory)."),
    output: Optional[str] = typer.Option(None, "-o", "--output", help="Lock file (default: envtrack.lock beside build.envd)."),
    check: bool = typer.Option(False, "--check", help="Compare the running environment with the lock; exit 1 on drift."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON report."),
) -> None:
    """Lock the running environment's packages, or check it against the lock (for CI)."""
    from envtrack.project import Project
    from envtrack.snapshot.lock import DEFAULT_LOCK
    from envtrack.snapshot.sources import Engine, project_lock, running_container

    from envtrack.statedir import project_lock as holding_project

    try:
        project = Project.find(file)
        lock_path = Path(output) if output else project.dir / DEFAULT_LOCK
        with holding_project(project.state_dir, "snapshot"):
            engine = Engine()
            container = running_container(project, engine)
            _progress(f"reading packages in {project.container_name}", as_json)
            current = project_lock(project, container, engine, lock_dir=lock_path.resolve().parent)
            if check:
                raise typer.Exit(_check(lock_path, current, project.container_name, as_json))
            _write_snapshot(lock_path, current, as_json)
    except EnvtrackError as error:
        fail(error)


@app.command()
def diff(
    a: str = typer.Argument(..., help="Lock file, image, container, or project directory (prefix lock:/image:/container:/project: to force)."),
    b: str = typer.Argument(..., help="The same kinds as A."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON report."),
) -> None:
    """Show packages added, removed and changed from A to B. Exit 0 equal, 1 different, 2 error."""
    from envtrack.snapshot.diff import diff_packages
    from envtrack.snapshot.report import render_json, render_text
    from envtrack.snapshot.sources import Engine, read_side

    try:
        engine = Engine()
        side_a, side_b = read_side(a, engine), read_side(b, engine)
    except EnvtrackError as error:
        fail(EnvtrackError(error.message, exit_code=2, hint=error.hint))  # like diff(1): trouble is 2
        return
    result = diff_packages(side_a.lock.packages, side_b.lock.packages)
    if as_json:
        print(json.dumps(render_json(result, side_a, side_b), indent=2))
    else:
        sys.stdout.write(render_text(result, side_a, side_b))
    raise typer.Exit(0 if result.equal else 1)


def _check(lock_path: Path, current, container_name: str, as_json: bool) -> int:
    from envtrack.snapshot.diff import diff_packages
    from envtrack.snapshot.report import Side, drift_notes, render_json, render_text, summary
    from envtrack.snapshot.sources import read_lock_file

    locked = read_lock_file(lock_path)
    result = diff_packages(locked.packages, current.packages)
    stale, info = drift_notes(locked, current)
    a, b = Side(str(lock_path), locked), Side(f"container {container_name}", current)
    drifted = not result.equal or bool(stale)
    if as_json:
        print(json.dumps(render_json(result, a, b, stale, info), indent=2))
    elif drifted:
        sys.stdout.write(render_text(result, a, b, stale, info))
        print(f"envtrack: environment drifted from {lock_path}"
              + ("" if result.equal else f": {summary(result)}"), file=sys.stderr)
    else:
        print(f"{container_name} matches {lock_path} ({len(locked.packages)} packages)")
    return 1 if drifted else 0


def _write_snapshot(lock_path: Path, lock, as_json: bool) -> None:
    from envtrack.snapshot.lock import render_lock

    text = render_lock(lock)
    try:
        unchanged = lock_path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        unchanged = False
    if not unchanged:
        write_atomic(lock_path, text, 0o644)  # an interrupted snapshot never leaves half a lock
    counts = {m: sum(1 for p in lock.packages if p.manager == m) for m in ("apt", "pip", "conda")}
    if as_json:
        print(json.dumps({"lock": str(lock_path), "written": not unchanged, "packages": counts,
                          "image": lock.image.to_json(), "base": lock.base.to_json(),
                          "envd_sha256": lock.envd_sha256}, indent=2))
        return
    described = ", ".join(f"{n} {m}" for m, n in counts.items() if n) or "no packages"
    print(f"{'unchanged' if unchanged else 'wrote'} {lock_path}: {described}")


def _progress(message: str, quiet: bool) -> None:
    if not quiet and sys.stderr.isatty():
        print(f"{message}...", file=sys.stderr)
