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
    # name envd's default codex release and an extension's universal file.
    asks = [{"builtin": plan.steps[ask.step].kind, "upstream": ask.upstream,
             "url": options.mirrors.rewrite(ask.upstream), "fetched_by": "envtrack"}
            for ask in newest_asks(plan, options.arch)]
    try:
        compiled = compile_plan(plan, options)
    except EnvtrackError:
        return asks
    return asks + [download.to_json() for download in compiled.downloads]
