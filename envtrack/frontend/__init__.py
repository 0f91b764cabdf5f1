"""The envd v1 frontend: evaluate build.envd into an ordered Plan of Steps."""

from __future__ import annotations

from envtrack.frontend.steps import Plan, Step

__all__ = ["Plan", "Step", "load_plan"]


def load_plan(path, target: str = "build") -> Plan:  # noqa: ANN001 - str | Path
    """Evaluate an envd file (or a directory holding build.envd) and call `target()`."""
    from envtrack.frontend.evaluate import load_plan as _load_plan

    return _load_plan(path, target)
