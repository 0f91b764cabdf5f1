"""`envtrack build` for an unchanged project, answered before the CLI framework loads.

Loading the CLI costs more than the whole cached rebuild, so `envtrack.cli.main` asks
here first. Only the plain forms are handled (`build [FILE] [--progress P] [--json]`);
anything else, or any doubt about the stamp, falls through to the full command.
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
    """Serve `envtrack build` from the stamp; True when done (the output is printed)."""
    options = parse(argv)
    if options is None:
        return False
    from envtrack.build import cached_build
    from envtrack.errors import EnvtrackError
    from envtrack.project import Project

    try:
        result = cached_build(Project.find(options["file"]), progress=options["progress"])
    except EnvtrackError:
        return False  # the full command reports it properly
    if result is None:
        return False
    if options["json"]:
        print(json.dumps(result.to_json(), indent=2, sort_keys=True))
    else:
        print(f"{result.image} (cached in {result.seconds:.1f} s)")
    sys.stdout.flush()
    return True
