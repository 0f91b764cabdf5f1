"""`envtrack init`: the build.envd written from a project's dependency files."""

from __future__ import annotations

from pathlib import Path

import pytest

from envtrack.errors import EnvtrackError
from envtrack.frontend import load_plan
from envtrack.scaffold import Found, init_project, render


def test_each_dependency_file_becomes_its_install_call(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six\n")
    (tmp_path / "environment.yml").write_text("dependencies:\n  - numpy\n")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["tomli>=2"]\n')
    target, found = init_project(tmp_path)
    assert found == Found("requirements.txt", "environment.yml", ("tomli>=2",))
    kinds = [(s.kind, s.args.get("requirements") or s.args.get("env_file") or s.args.get("name"))
             for s in load_plan(target).steps]
    assert kinds == [("base", None), ("install.python", None), ("install.python_packages", "requirements.txt"),
                     ("install.python_packages", ["tomli>=2"]), ("install.conda", None),
                     ("install.conda_packages", "environment.yml")]


def test_an_empty_project_gets_python_only() -> None:
    assert "install.python()" in render(Found()) and "python_packages" not in render(Found())


def test_an_existing_build_envd_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "build.envd").write_text("mine\n")
    with pytest.raises(EnvtrackError):
        init_project(tmp_path)
    assert (tmp_path / "build.envd").read_text() == "mine\n"
    assert [p.name for p in tmp_path.iterdir()] == ["build.envd"]
