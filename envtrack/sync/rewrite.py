"""Rewrite build.envd so it asks for what the environment now has. Pure: text in, text out.

Edits stay as late in the file as possible so BuildKit keeps the cache of every
earlier step: declared entries are edited where they are written, and new packages
go into new install calls at the end of the target function (or into the final
install call when that is the function's last statement).

    sites.py   where the install calls are written, and which can be edited
    decide.py  what to change (Edits and notes), without libcst
    tree.py    carrying Edits out on the libcst tree
"""

from __future__ import annotations

from pathlib import Path

import libcst as cst

from envtrack.errors import EnvtrackError
from envtrack.frontend.steps import Plan
from envtrack.sync.changes import NetChange
from envtrack.sync.decide import UNINSTALL, decide
from envtrack.sync.into import destination
from envtrack.sync.result import Rewrite
from envtrack.sync.sites import declared_packages, map_source
from envtrack.sync.tree import EditApplier, new_statements

__all__ = ["UNINSTALL", "rewrite_source"]


def rewrite_source(text: str, plan: Plan, changes: list[NetChange], *, envd_file: Path,
                   pin: str = "exact", target: str = "build", into: str | None = None) -> Rewrite:
    """TEXT (the envd file PLAN was evaluated from) with CHANGES written in.

    New calls go to the state that becomes the image, or to INTO (see envtrack.sync.into).
    """
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError as error:
        raise EnvtrackError(f"{envd_file}: cannot parse for rewriting: {error.message}", exit_code=2) from error
    source = map_source(module, target)
    declared = declared_packages(plan, source, envd_file)
    into_state = destination(plan, into, source.target, source.quote)
    edits = decide(plan, source, declared, changes, pin=pin, target=target, into_state=into_state,
                   envd_file=envd_file)
    if not any(n.level == "edit" for n in edits.notes):
        return Rewrite(text, tuple(edits.notes))
    new_module = module.visit(EditApplier(edits, source, new_statements(module, source, edits, into_state)))
    return Rewrite(new_module.code, tuple(edits.notes), tuple(edits.added))

