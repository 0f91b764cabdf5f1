"""`envtrack init`: write a build.envd for a project from the dependency files it has.

Like `envd init`: requirements.txt becomes install.python_packages(requirements=...),
environment.yml (or .yaml) install.conda() + install.conda_packages(env_file=...), and a
pyproject.toml's [project] dependencies install.python_packages(name=[...]). `render` is
pure; `init_project` reads the directory and writes the file without ever replacing one.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from envtrack.errors import EnvtrackError
from envtrack.project import BASE_IMAGE, DEFAULT_FILE

ENV_FILES = ("environment.yml", "environment.yaml")


@dataclass(frozen=True)
class Found:
    requirements: str = ""                  # file name, when present
    env_file: str = ""
    pyproject_deps: tuple[str, ...] = ()


def detect(directory: Path) -> Found:
    requirements = "requirements.txt" if (directory / "requirements.txt").is_file() else ""
    env_file = next((name for name in ENV_FILES if (directory / name).is_file()), "")
    return Found(requirements, env_file, _pyproject_dependencies(directory / "pyproject.toml"))


def _pyproject_dependencies(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        return ()
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise EnvtrackError(f"{path}: not valid TOML ({error})", exit_code=2) from None
    deps = (data.get("project") or {}).get("dependencies") or []
    return tuple(str(d) for d in deps if isinstance(d, str))


def render(found: Found) -> str:
    lines = [
        "# Written by `envtrack init`. It starts from envtrack's Debian 12 base (`envtrack engine setup`",
        "# makes it); envd's default, used without base(), is ubuntu:22.04, pulled from its registry.",
        "def build():",
        f'    base(image="{BASE_IMAGE}")',
        "    install.python()",
    ]
    if found.requirements:
        lines.append(f'    install.python_packages(requirements="{found.requirements}")')
    if found.pyproject_deps:
        lines.append(f"    install.python_packages(name={json.dumps(list(found.pyproject_deps))})")
    if found.env_file:
        lines += ["    install.conda()", f'    install.conda_packages(env_file="{found.env_file}")']
    return "\n".join(lines) + "\n"


def init_project(directory: Path) -> tuple[Path, Found]:
    """Write DIRECTORY/build.envd; refuse if one exists. The text is evaluated before it lands."""
    from envtrack.frontend import load_plan

    target = directory / DEFAULT_FILE
    if target.exists():
        raise EnvtrackError(f"{target} already exists; nothing written", exit_code=2)
    found = detect(directory)
    fd, temp_name = tempfile.mkstemp(prefix=f".{DEFAULT_FILE}.", suffix=".init", dir=directory)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(render(found))
        load_plan(temp)
        os.link(temp, target)   # never replaces a file that appeared meanwhile
    except FileExistsError:
        raise EnvtrackError(f"{target} already exists; nothing written", exit_code=2) from None
    finally:
        temp.unlink(missing_ok=True)
    return target, found
