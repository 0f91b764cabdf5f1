"""The typer application every command module registers on.

Command modules import heavy dependencies (grpc, docker, rich, libcst) inside their
functions, so `envtrack --help` and cached rebuilds start fast.
"""

from __future__ import annotations

import sys

import typer

from envtrack import __version__
from envtrack.errors import EnvtrackError

app = typer.Typer(
    name="envtrack",
    help="Keep a machine-learning dev environment and its build.envd in step.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
engine_app = typer.Typer(help="Set up and inspect the container engine.", no_args_is_help=True)
app.add_typer(engine_app, name="engine")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"envtrack {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """envtrack: an ordered, cached envd builder that records what you change at runtime."""


def fail(error: EnvtrackError) -> None:
    """Print an EnvtrackError as one line (plus an optional hint) and exit with its code."""
    print(error.report(), file=sys.stderr)
    raise typer.Exit(error.exit_code)


def warn_about_agent(project) -> None:
    """One line on stderr when the agent is not recording (after restarting it, which reconciles)."""
    from envtrack.container.service import agent_warning

    warning = agent_warning(project)
    if warning:
        print(warning, file=sys.stderr)
