"""What `envtrack plan` shows: build.envd's Plan, and the downloads the build would make.

The plan itself fetches nothing and needs no Engine: the downloads are what compiling the
Plan (with this machine's options and mirror table) says the build would fetch.
"""

from __future__ import annotations

from dataclasses import dataclass

from envtrack.frontend.steps import Plan


@dataclass(frozen=True)
class Preview:
    plan: Plan
    downloads: tuple[dict, ...] = ()


def preview(file: str | None, target: str = "build", *, downloads: bool = False) -> Preview:
    """The Plan of FILE (a build.envd or a directory holding one; default: the working directory)
    and, with DOWNLOADS, each URL the build would fetch."""
    from envtrack.frontend import load_plan
    from envtrack.llb.downloads import planned_downloads

    plan = load_plan(file if file is not None else ".", target)
    return Preview(plan, tuple(planned_downloads(plan)) if downloads else ())
