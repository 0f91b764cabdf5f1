"""`envtrack build` without the CLI framework.

Loading the CLI framework costs more than a whole cached rebuild, so `envtrack.cli.main`
hands plain build command lines (`build [FILE] [--progress P] [--builder ADDR] [--json]`)
here; anything else (--help, --bake-ca, mistakes) gets the full command and its messages.
"""

from __future__ import annotations

import json
import sys

VALUE_OPTIONS = {"--progress", "--builder"}
FLAG_OPTIONS = {"--json"}


def parse(argv: list[str]) -> dict | None:
    """The options of a plain `build` command line, or None when it is anything else."""
    options = {"file": None, "progress": "auto", "json": False}
    rest = list(argv)
    while rest:
        word = rest.pop(0)
        name, _, value = word.partition("=")
        if name in VALUE_OPTIONS:
            if not value:
                if not rest:
                    return None
                value = rest.pop(0)
            if name == "--progress":
                options["progress"] = value
        elif word in FLAG_OPTIONS:
            options["json"] = True
        elif word.startswith("-") or options["file"] is not None:
            return None
        else:
            options["file"] = word
    return options if options["progress"] in ("auto", "tty", "plain", "quiet") else None


def try_cached_build(argv: list[str]) -> bool:
    """Run a plain `envtrack build` without the CLI framework; True when done.

    An unchanged project is answered from the stamp; otherwise the build runs here too,
    since loading the framework would only add its import time to every build.
    """
    options = parse(argv)
    if options is None:
        return False
    from envtrack.build.service import build_project
    from envtrack.errors import EnvtrackError
    from envtrack.project import Project

    try:
        project = Project.find(options["file"])
        result = build_project(project, progress=options["progress"], builder=_builder(argv))
    except EnvtrackError as error:
        _fail(error)
    if options["json"]:
        print(json.dumps(result.to_json(), indent=2, sort_keys=True))
    else:
        print(result.summary())
    sys.stdout.flush()
    return True


def _builder(argv: list[str]) -> str | None:
    for index, word in enumerate(argv):
        if word.startswith("--builder="):
            return word.split("=", 1)[1]
        if word == "--builder" and index + 1 < len(argv):
            return argv[index + 1]
    return None


def _fail(error) -> None:
    """Print as the CLI's `fail` does and exit with the error's code."""
    print(error.report(), file=sys.stderr)
    sys.exit(error.exit_code)
