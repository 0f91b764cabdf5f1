"""sync on the real engine where the value has a source and the base has another Python (issue 23).

A bullseye project (Python 3.9, no pip) declares its apt tools through a module-level variable
and has no install.python(). At runtime the user removes one of those tools and installs pip
and a pip package. `sync` removes the tool from the variable where it is written (not an
appended `apt-get remove`), and adds install.python(version="3.9"), the Python bullseye can
give, before the pip package (install.python()'s 3.11 could not be met there). The file it
writes builds, and the rebuilt environment has the package and not the removed tool.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import project_dir, run_cli
from test_sync_e2e import wait_for_rows

ENV = ["env", "DEBIAN_FRONTEND=noninteractive", "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_CACHE_DIR=1"]
BUILD_ENVD = '''TOOLS = ["jq", "tree"]


def build():
    base(image="envtrack/base:bullseye")
    install.apt_packages(name=TOOLS)
'''
EXPECTED = {("apt", "tree", "remove"), ("apt", "python3-pip", "install"), ("pip", "tomli", "install")}


@dataclass
class Synced:
    project: Path
    rows: dict
    report: dict
    text: str
    tomli: str
    tree: str


def exec_in(project: Path, *command: str) -> str:
    return run_cli("exec", "--", *command, cwd=project, check=True).stdout


@pytest.fixture(scope="module")
def synced(docker_client, tmp_path_factory) -> Synced:
    with project_dir(docker_client, tmp_path_factory, "sync-sources", BUILD_ENVD) as project:
        exec_in(project, *ENV, "apt-get", "remove", "-y", "-q", "tree")
        exec_in(project, *ENV, "apt-get", "install", "-y", "-q", "--no-install-recommends", "python3-pip")
        exec_in(project, *ENV, "python3", "-m", "pip", "install", "-q", "tomli==2.0.1")
        rows = {(r["manager"], r["name"].lower()): r
                for r in wait_for_rows(project / ".envtrack" / "journal.db", 120, EXPECTED)}
        report = json.loads(run_cli("sync", "--json", cwd=project, check=True).stdout)
        text = (project / "build.envd").read_text()
        run_cli("down", cwd=project, check=True)
        run_cli("up", "--progress", "quiet", cwd=project, check=True)   # rebuilds from the synced file
        tomli = exec_in(project, "python3", "-c", "import tomli, sys; print(tomli.__file__, sys.version_info[:2])")
        tree = run_cli("exec", "--", "sh", "-c", "command -v tree || echo absent", cwd=project).stdout.strip()
        yield Synced(project, rows, report, text, tomli, tree)


def test_the_removal_is_written_where_the_variable_is(synced: Synced) -> None:
    assert synced.text.startswith('TOOLS = ["jq"]\n'), synced.text
    assert "apt-get remove" not in synced.text
    assert any("variable TOOLS" in edit for edit in synced.report["edits"]), synced.report


def test_pip_gets_the_python_the_base_ships(synced: Synced) -> None:
    assert '    install.python(version="3.9")\n' in synced.text, synced.text
    assert synced.text.index("install.python(") < synced.text.index('"tomli==2.0.1"')


def test_the_synced_file_builds_and_the_environment_matches(synced: Synced) -> None:
    assert "/opt/envtrack/venv/" in synced.tomli and "(3, 9)" in synced.tomli, synced.tomli
    assert synced.tree == "absent"
