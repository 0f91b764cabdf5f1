"""The plan as people and Graphviz read it: states, their steps, and where they branch and merge. Pure."""

from __future__ import annotations

from envtrack.frontend.steps import MAIN_STATE, Plan, StateDef

_ORIGIN_WORD = {"branch": "branch of", "merge": "merge of", "diff": "diff of"}


def state_names(plan: Plan) -> list[str]:
    """main (when anything is built on it or from it), then the states in definition order."""
    used = {i for d in plan.states for i in d.inputs} | {plan.image_state}
    main_used = MAIN_STATE in used or any(s.state is None for s in plan.steps)
    return ([MAIN_STATE] if main_used else []) + [d.name for d in plan.states]


def describe(definition: StateDef | None) -> str:
    if definition is None:
        return MAIN_STATE
    if definition.origin == "image":
        return f"{definition.name} = image {definition.image}"
    if definition.origin == "scratch":
        return f"{definition.name} = scratch"
    return f"{definition.name} = {_ORIGIN_WORD[definition.origin]} {', '.join(definition.inputs)}"


def render_text(plan: Plan) -> str:
    numbers = {id(step): n for n, step in enumerate(plan.steps, 1)}
    width = len(str(len(plan.steps)))
    defs = {d.name: d for d in plan.states}
    lines = []
    for name in state_names(plan):
        definition = defs.get(name)
        where = f"  ({definition.position})" if definition else ""
        mark = "  <- the image" if name == plan.image_state else ""
        lines.append(f"{describe(definition)}{where}{mark}")
        for step in plan.steps_of(name):
            lines.append(f"  {numbers[id(step)]:>{width}}. {step.label}  ({step.position})")
    return "\n".join(lines)


def render_dot(plan: Plan) -> str:
    """A Graphviz digraph: one box per state listing its steps, edges from what it starts from."""
    defs = {d.name: d for d in plan.states}
    lines = ["digraph plan {", "  rankdir=TB;", '  node [shape=box, fontname="monospace"];']
    for name in state_names(plan):
        definition = defs.get(name)
        text = [describe(definition)] + [step.label for step in plan.steps_of(name)]
        extra = ", peripheries=2" if name == plan.image_state else ""
        lines.append(f"  {_quote(name)} [label={_quote(chr(10).join(text))}{extra}];")
    for definition in plan.states:
        roles = ("lower", "upper") if definition.origin == "diff" else ("",) * len(definition.inputs)
        for source, role in zip(definition.inputs, roles):
            label = f" [label={_quote(role)}]" if role else ""
            lines.append(f"  {_quote(source)} -> {_quote(definition.name)}{label};")
    lines.append("}")
    return "\n".join(lines)


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\l")
    return f'"{escaped}\\l"' if "\\l" in escaped else f'"{escaped}"'
