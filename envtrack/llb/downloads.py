"""What a plan's build would fetch, known before the build asks anything: for `plan --json`
and `doctor`. Pure but for the mirror table and host files that the build options read.
"""

from __future__ import annotations

import dataclasses

from envtrack.errors import EnvtrackError
from envtrack.frontend.steps import Plan


def planned_downloads(plan: Plan) -> list[dict]:
    """Each URL the build would fetch, as envd names it and after the mirror table (for this
    machine's architecture). A plan that does not compile yet has none to show: `build` says why."""
    from envtrack.llb.compile import compile_plan
    from envtrack.llb.options import default_build_options
    from envtrack.llb.toolchains import newest_asks

    options = default_build_options()   # a mirror setting that cannot be read fails here, exit 2
    # What the build asks first (the newest release of what build.envd leaves unversioned, which
    # file publishes a pinned extension); the plan itself asks nothing, so its downloads below
    # stand in envd's default codex release and a pinned extension's universal file, and leave
    # out the file of an extension whose version only the answer names.
    asks = newest_asks(plan, options.arch)
    rows = [{"builtin": plan.steps[ask.step].kind, "upstream": ask.upstream,
             "url": options.mirrors.rewrite(ask.upstream), "fetched_by": "envtrack"} for ask in asks]
    try:
        compiled = compile_plan(unasked(plan, asks), options)
    except EnvtrackError:
        return rows
    return rows + [download.to_json() for download in compiled.downloads]


def unasked(plan: Plan, asks) -> Plan:
    """PLAN as it compiles before any answer: codex at envd's default release, a pinned
    extension in its universal publication, an unversioned extension left out."""
    from envtrack.llb.toolchains import CODEX_VERSION, UNIVERSAL, with_newest

    plan = with_newest(plan, {ask: CODEX_VERSION if ask.name is None else f"{ask.version}@{UNIVERSAL}"
                              for ask in asks if ask.name is None or ask.version})
    unversioned = {(ask.step, ask.name) for ask in asks if ask.name is not None and not ask.version}
    steps = []
    for index, step in enumerate(plan.steps):
        if step.kind == "install.vscode_extensions" and any(at == index for at, _ in unversioned):
            names = [name for number, name in enumerate(step.args["name"]) if (index, number) not in unversioned]
            if not names:
                continue
            step = dataclasses.replace(step, args=dict(step.args, name=names))
        steps.append(step)
    return dataclasses.replace(plan, steps=tuple(steps))
