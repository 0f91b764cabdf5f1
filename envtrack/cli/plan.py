"""`envtrack plan`: show the steps build.envd produces, in the order they run."""

from __future__ import annotations

import json


def plan(file: str | None, target: str, as_json: bool) -> None:
    """Evaluate build.envd and print its steps with their places in the source."""
    from envtrack.frontend import load_plan

    result = load_plan(file if file is not None else ".", target)
    print(render_json(result) if as_json else render_text(result))


def render_json(result) -> str:  # noqa: ANN001 - a Plan
    """Stable JSON (sorted keys, indent 2) that scripts and golden tests can diff."""
    document = {"file": result.file, "target": result.target, "steps": [step.to_json() for step in result.steps]}
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False)


def render_text(result) -> str:  # noqa: ANN001 - a Plan
    if not result.steps:
        return f"{result.file}: {result.target}() made no steps"
    width = len(str(len(result.steps)))
    lines = []
    for number, step in enumerate(result.steps, 1):
        lines.append(f"{number:>{width}}. {step.label}  ({step.position})")
    return "\n".join(lines)
