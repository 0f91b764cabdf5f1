"""A project's identity: two directories never share it, and it stays once made."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from envtrack.errors import EnvtrackError
from envtrack.fsutil import remove_orphans, write_atomic
from envtrack.project import IDENTITY_FILE, Project, display_path, envd_path, legacy_name, resource_names


def make(directory: Path) -> Path:
    directory.mkdir(parents=True)
    (directory / "build.envd").write_text("def build():\n    pass\n")
    return directory


def test_same_named_directories_get_different_names(tmp_path: Path) -> None:
    a, b = Project.find(make(tmp_path / "a" / "app")), Project.find(make(tmp_path / "b" / "app"))
    assert a.name != b.name and a.name.startswith("app-") and b.name.startswith("app-")
    assert a.container_name != b.container_name and a.image_repo != b.image_repo
    assert a.names.volume != b.names.volume and a.names.companion != b.names.companion
    assert legacy_name(a.dir) == legacy_name(b.dir) == "app"


def test_every_engine_name_comes_from_the_one_function(tmp_path: Path) -> None:
    project = Project.find(make(tmp_path / "My Project!"))
    assert project.names == resource_names(project.name)
    assert project.names.container == f"envtrack-{project.name}"
    assert project.names.image_repo == f"envtrack/{project.name}"
    assert project.names.host_alias == f"{project.name}.envtrack"
    assert project.name.startswith("my-project-") and project.name == project.name.lower()


def test_the_name_is_recorded_once_there_is_state_and_follows_a_move(tmp_path: Path) -> None:
    first = Project.find(make(tmp_path / "one" / "app"))
    first.require_writable_state("test")
    assert json.loads((first.state_dir / IDENTITY_FILE).read_text())["name"] == first.name
    moved = tmp_path / "two" / "app"
    moved.parent.mkdir()
    shutil.move(str(first.dir), str(moved))
    again = Project.find(moved)
    assert again.name == first.name                      # its container and images follow it
    assert json.loads((again.state_dir / IDENTITY_FILE).read_text())["dir"] == str(moved.resolve())


def test_a_copied_project_gets_a_name_of_its_own(tmp_path: Path) -> None:
    original = Project.find(make(tmp_path / "one" / "app"))
    original.require_writable_state("test")
    copy = tmp_path / "two" / "app"
    shutil.copytree(original.dir, copy)
    copied = Project.find(copy)
    assert copied.name != original.name
    assert Project.find(original.dir).name == original.name


def test_a_project_without_build_envd_keeps_its_name(tmp_path: Path) -> None:
    project = Project.find(make(tmp_path / "app"))
    project.require_writable_state("test")
    (project.dir / "build.envd").unlink()
    assert Project.at(project.dir).name == project.name
    with pytest.raises(EnvtrackError, match="no such envd file"):
        Project.find(project.dir)


def test_the_directory_rule_gives_one_absolute_path_and_messages_one_spelling(tmp_path: Path, monkeypatch) -> None:
    make(tmp_path / "p")
    (tmp_path / "elsewhere").mkdir()
    absolute = (tmp_path / "p" / "build.envd").resolve()
    monkeypatch.chdir(tmp_path)
    assert envd_path("p") == envd_path(f"{tmp_path}/p/./build.envd") == envd_path(absolute) == absolute
    assert display_path(absolute) == "p/build.envd"          # below the working directory: relative
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert display_path(absolute) == str(absolute)           # elsewhere: absolute, never ../


def test_orphaned_temporary_files_of_dead_writers_are_removed(tmp_path: Path) -> None:
    (tmp_path / ".build.envd.999999999.x1.tmp").write_text("half")   # no such pid
    (tmp_path / ".build.envd.1.x2.tmp").write_text("in use")          # pid 1 is alive
    write_atomic(tmp_path / "build.envd", "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".build.envd.1.x2.tmp", "build.envd"]
    (tmp_path / ".journal.db.999999999.fetched.tmp").write_text("half")
    remove_orphans(tmp_path)
    assert not (tmp_path / ".journal.db.999999999.fetched.tmp").exists()
