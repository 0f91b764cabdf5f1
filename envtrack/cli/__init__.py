"""Command-line entry point: `envtrack`. Each command lives in its own module."""

from __future__ import annotations

import sys


def main() -> None:
    # A plain `build` runs before the CLI framework loads (loading it costs more than a
    # whole cached rebuild); anything else takes the full path below.
    if sys.argv[1:2] == ["build"]:
        from envtrack.build.fastpath import try_cached_build

        if try_cached_build(sys.argv[2:]):
            return
    from envtrack.cli.app import app, fail
    from envtrack.errors import EnvtrackError

    # Importing a command module registers its commands on `app`.
    from envtrack.cli import engine, plan, build, env, sync, snapshot, init, context  # noqa: F401

    try:
        app()
    except EnvtrackError as error:  # raised outside a command's own handling
        fail(error)
