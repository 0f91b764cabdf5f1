"""The envd v1 frontend: evaluate build.envd into an ordered Plan of Steps."""

from __future__ import annotations

from envtrack.frontend.steps import Plan, Step

__all__ = ["Plan", "Step", "load_plan"]


def __getattr__(name: str):  # noqa: ANN202 - PEP 562
    # load_plan lives in bounded.py (it runs the evaluation in a bounded child process); it is
    # exported lazily so that importing Step or Plan does not load subprocess, mmap and pickle.
    if name == "load_plan":
        from envtrack.frontend.bounded import load_plan

        return load_plan
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
