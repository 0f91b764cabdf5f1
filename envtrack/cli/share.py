"""`envtrack push` and `envtrack pull`: environments shared with teammates through a registry."""

from __future__ import annotations

import sys


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def push(ref: str | None, file: str | None, progress: str) -> None:
    """Push the environment with its build.envd and lock attached."""
    from envtrack.project import open_project
    from envtrack.share import push_environment

    pushed = push_environment(open_project(file), ref, progress=progress, on_line=None if progress == "quiet" else _say)
    print(f"pushed {pushed.ref}@{pushed.digest} from {pushed.source}")


def pull(ref: str, directory: str | None) -> None:
    """Pull a pushed environment; write its build.envd and lock here."""
    from envtrack.project import open_project
    from envtrack.share import pull_environment

    pulled = pull_environment(open_project(directory, envd_optional=True), ref, on_line=_say)
    print(f"pulled {pulled.ref} ({pulled.image_id[:19]})"
          + (f"; wrote {', '.join(pulled.written)}" if pulled.written else ""))
    for name in pulled.kept:
        print(f"  kept this directory's {name}, which differs from the pushed one "
              f"(compare: envtrack diff {pulled.ref} .)")
    print(f"  run it: envtrack up --from {pulled.ref}")
