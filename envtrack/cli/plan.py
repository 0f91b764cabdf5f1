"""`envtrack plan`: show the steps build.envd produces, in the order they run."""

from __future__ import annotations

import json

from envtrack.errors import EnvtrackError


def plan(file: str | None, target: str, as_json: bool, output_format: str) -> None:
    """Evaluate build.envd and print its steps with their places in the source."""
    from envtrack.frontend import load_plan

    if output_format not in ("text", "json", "dot"):
        raise EnvtrackError(f"--format must be text, json or dot, not {output_format!r}", exit_code=2)
    result = load_plan(file if file is not None else ".", target)
    if as_json or output_format == "json":
        print(render_json(result, planned_downloads(result)))
    elif output_format == "dot":
        from envtrack.frontend.plan_view import render_dot

        print(render_dot(result))
    else:
        print(render_text(result))


def planned_downloads(result) -> list[dict]:  # noqa: ANN001 - a Plan
    """Each URL the build would fetch, as envd names it and after the mirror table (for this
    machine's architecture). A plan that does not compile yet has none to show: `build` says why."""
    from envtrack.llb.compile import compile_plan
    from envtrack.llb.options import default_build_options

    from envtrack.llb.toolchains import newest_asks

    options = default_build_options()   # a mirror setting that cannot be read fails here, exit 2
    # What the build asks first (the newest release of what build.envd leaves unversioned, which
    # file publishes a pinned extension); the plan itself asks nothing, so its downloads below
    # name envd's default codex release and an extension's universal file.
    asks = [{"builtin": result.steps[ask.step].kind, "upstream": ask.upstream,
             "url": options.mirrors.rewrite(ask.upstream), "fetched_by": "envtrack"}
            for ask in newest_asks(result, options.arch)]
    try:
        compiled = compile_plan(result, options)
    except EnvtrackError:
        return asks
    return asks + [download.to_json() for download in compiled.downloads]


def render_json(result, downloads: list[dict] | None = None) -> str:  # noqa: ANN001 - a Plan
    """Stable JSON (sorted keys, indent 2) that scripts and golden tests can diff."""
    document = {"file": result.file, "target": result.target, "steps": [step.to_json() for step in result.steps]}
    if downloads:
        document["downloads"] = downloads
    if result.states:
        document["states"] = [state.to_json() for state in result.states]
        document["result"] = result.image_state
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False)


def render_text(result) -> str:  # noqa: ANN001 - a Plan
    if result.states:
        from envtrack.frontend.plan_view import render_text as render_states

        return render_states(result)
    if not result.steps:
        return f"{result.file}: {result.target}() made no steps"
    width = len(str(len(result.steps)))
    lines = []
    for number, step in enumerate(result.steps, 1):
        lines.append(f"{number:>{width}}. {step.label}  ({step.position})")
    return "\n".join(lines)
