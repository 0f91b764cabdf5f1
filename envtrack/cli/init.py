"""`envtrack init`: write a build.envd from requirements.txt / environment.yml / pyproject.toml."""

from __future__ import annotations

from pathlib import Path


def init(directory: str | None) -> None:
    """Write build.envd for a project from the dependency files it has (never replaces one)."""
    from envtrack.scaffold import init_project

    target, found = init_project(Path(directory or "."))
    used = [name for name in (found.requirements, found.env_file) if name]
    if found.pyproject_deps:
        used.append("pyproject.toml")
    print(f"wrote {target}" + (f" from {', '.join(used)}" if used else ""))
