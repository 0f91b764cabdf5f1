"""include(git): a git repository (file:// here) is cloned once into the cache and its envd files
become the members of the module include returns."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from envtrack.errors import LocatedError
from envtrack.frontend import load_plan


def git_repo(path: Path, text: str) -> Path:
    path.mkdir()
    (path / "lib.envd").write_text(text)
    for command in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        subprocess.run(["git", *command], cwd=path, check=True)
    return path


def test_a_git_include_is_cloned_once_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    repo = git_repo(tmp_path / "repo", 'def tools():\n    install.apt_packages(name=["jq"])\n')
    envd = tmp_path / "build.envd"
    envd.write_text(f'lib = include("{repo.as_uri()}")\n\ndef build():\n    lib.tools()\n')
    assert [s.args["name"] for s in load_plan(envd).steps] == [["jq"]]
    (repo / "lib.envd").write_text('def tools():\n    install.apt_packages(name=["tree"])\n')
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "y"], cwd=repo, check=True)
    assert [s.args["name"] for s in load_plan(envd).steps] == [["jq"]]   # the cached clone
    assert len(list((tmp_path / "cache" / "envtrack" / "include").iterdir())) == 1


def test_an_unreachable_include_is_one_located_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    envd = tmp_path / "build.envd"
    envd.write_text(f'lib = include("{(tmp_path / "absent").as_uri()}")\n\ndef build():\n    pass\n')
    with pytest.raises(LocatedError) as caught:
        load_plan(envd)
    assert caught.value.position.line == 1 and caught.value.reason.startswith("include: ")
