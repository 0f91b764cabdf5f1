"""`envtrack init`: write a build.envd from requirements.txt / environment.yml / pyproject.toml."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from envtrack.cli.app import app, fail
from envtrack.errors import EnvtrackError


@app.command()
def init(directory: Optional[str] = typer.Argument(None, help="The project directory (default: .).")) -> None:
    """Write build.envd for a project from the dependency files it has (never replaces one)."""
    from envtrack.scaffold import init_project

    try:
        target, found = init_project(Path(directory or "."))
    except EnvtrackError as error:
        fail(error)
        return
    used = [name for name in (found.requirements, found.env_file) if name]
    if found.pyproject_deps:
        used.append("pyproject.toml")
    typer.echo(f"wrote {target}" + (f" from {', '.join(used)}" if used else ""))
