"""The envd v1 frontend: evaluate build.envd into an ordered Plan of Steps."""

from __future__ import annotations

__all__ = ["Plan", "Step", "load_plan"]


def __getattr__(name: str):  # noqa: ANN202 - PEP 562
    # load_plan lives in bounded.py (it runs the evaluation in a bounded child process); it is
    # exported lazily so that importing Step or Plan does not load subprocess, mmap and pickle.
    # Plan and Step are lazy too: a cached build imports frontend.source (the envd fingerprint)
    # and must not load steps.py, typing and the builtins' tables for it.
    if name == "load_plan":
        from envtrack.frontend.bounded import load_plan

        return load_plan
    if name in ("Plan", "Step"):
        from envtrack.frontend import steps

        return getattr(steps, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
