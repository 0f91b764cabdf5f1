"""What `envtrack plan` shows: build.envd's Plan, and the downloads the build would make.

The plan itself fetches nothing and needs no Engine: the downloads are what compiling the
Plan (with this machine's options and mirror table) says the build would fetch.
"""

from __future__ import annotations

from dataclasses import dataclass

from envtrack.errors import EnvtrackError
from envtrack.frontend.steps import Plan


@dataclass(frozen=True)
class Preview:
    plan: Plan
    downloads: tuple[dict, ...] = ()


def preview(file: str | None, target: str = "build", *, downloads: bool = False) -> Preview:
    """The Plan of FILE (a build.envd or a directory holding one; default: the working directory)
    and, with DOWNLOADS, each URL the build would fetch."""
    from envtrack.frontend import load_plan

    plan = load_plan(file if file is not None else ".", target)
    return Preview(plan, tuple(planned_downloads(plan)) if downloads else ())


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
    import dataclasses

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
