"""Command-line entry point: `envtrack`. Each command lives in its own module."""

from __future__ import annotations

from envtrack.cli.app import app, fail
from envtrack.errors import EnvtrackError

# Importing a command module registers its commands on `app`.
from envtrack.cli import engine, plan, build, env, sync, snapshot  # noqa: E402,F401


def main() -> None:
    try:
        app()
    except EnvtrackError as error:  # raised outside a command's own handling
        fail(error)
