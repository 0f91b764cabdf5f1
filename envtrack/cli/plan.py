"""`envtrack plan`: show the steps build.envd produces, in the order they run."""

from __future__ import annotations

import json

from envtrack.errors import EnvtrackError


def plan(file: str | None, target: str, as_json: bool, output_format: str) -> None:
    """Evaluate build.envd and print its steps with their places in the source."""
    from envtrack.solve.preview import preview

    if output_format not in ("text", "json", "dot"):
        raise EnvtrackError(f"--format must be text, json or dot, not {output_format!r}", exit_code=2)
    as_json = as_json or output_format == "json"
    shown = preview(file, target, downloads=as_json)
    if as_json:
        print(render_json(shown.plan, list(shown.downloads)))
    elif output_format == "dot":
        from envtrack.frontend.plan_view import render_dot

        print(render_dot(shown.plan))
    else:
        print(render_text(shown.plan))


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
