"""`envtrack engine setup` and `envtrack doctor`."""

from __future__ import annotations

import json
import subprocess
import time
from typing import List, Optional

import typer

from envtrack.cli.app import app, engine_app
from envtrack.engine.doctor import SETUP_SCRIPT


@engine_app.command("setup")
def setup(
    engine_only: bool = typer.Option(
        False, "--engine-only", help="Only install and start the engine; leave the base images alone."),
    base: Optional[List[str]] = typer.Option(
        None, "--base", help="A base image to make, envtrack/base:SUITE (repeatable): bullseye (Python 3.9), "
        "bookworm (3.11, the default), trixie (3.13), bookworm-nopython (no python3)."),
) -> None:
    """Install docker.io and debootstrap, start dockerd, create the local base images (idempotent)."""
    started = time.monotonic()
    options = (["--engine-only"] if engine_only else []) + [f"--base={suite}" for suite in base or ()]
    code = subprocess.call(["bash", str(SETUP_SCRIPT), *options])
    if code:
        raise typer.Exit(code)
    typer.echo(f"engine ready ({time.monotonic() - started:.1f} s)", err=True)


@app.command()
def doctor(
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
    builder: Optional[str] = typer.Option(None, "--builder", envvar="ENVTRACK_BUILDKIT_HOST",
                                          help="Check this buildkitd instead of the one in use."),
) -> None:
    """Check the engine, BuildKit, base image, disk, CA and proxy (of the Engine and builder in use)."""
    from envtrack.engine.doctor import run_checks

    checks = run_checks(builder or None)
    if as_json:
        typer.echo(json.dumps([c.to_json() for c in checks], indent=2, sort_keys=True))
    else:
        for check in checks:
            mark = "ok  " if check.ok else "FAIL"
            typer.echo(f"{mark} {check.name:<15} {check.detail}")
            if not check.ok and check.fix:
                typer.echo(f"     fix: {check.fix}")
    raise typer.Exit(0 if all(c.ok for c in checks) else 1)
