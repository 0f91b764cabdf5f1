"""`envtrack build`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from envtrack.cli.app import app, fail
from envtrack.errors import EnvtrackError

FILE_ARG = typer.Argument(None, help="build.envd, or a directory holding one (default: ./build.envd).")


@app.command()
def build(
    file: Optional[Path] = FILE_ARG,
    progress: str = typer.Option("auto", "--progress", help="auto, tty, plain or quiet."),
    builder: Optional[str] = typer.Option(None, "--builder", envvar="ENVTRACK_BUILDKIT_HOST",
                                          help="A standalone buildkitd (unix:///PATH or tcp://HOST:PORT); "
                                               "default: the Docker Engine's BuildKit."),
    bake_ca: bool = typer.Option(False, "--bake-ca", help="Also install the host CA bundle into the image."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Build the environment on BuildKit, in exactly the order build.envd says."""
    from envtrack.build.service import build_project
    from envtrack.project import Project

    try:
        result = build_project(Project.find(file), progress=progress, builder=builder, bake_ca=bake_ca)
    except EnvtrackError as error:
        fail(error)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2, sort_keys=True))
    else:
        typer.echo(result.summary())
