"""The agent on the real engine: every apt/pip/conda change lands in the journal, with the
right requested flags, also across agent downtime and a container stop.

One container for the module (`envtrack up` of a minimal project); each test installs its
own small packages and waits, with a bounded poll, for its own rows.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from conftest import names_of, project_dir, run_cli

BUILD_ENVD = """\
def build():
    base(image="envtrack/base:bookworm", dev=True)
    install.python()
"""
QUIET = ["env", "DEBIAN_FRONTEND=noninteractive", "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_CACHE_DIR=1"]

# Real-format conda records (as conda 23 writes them), for a prefix conda never touched.
CONDA_HISTORY = """\
==> 2026-11-29 01:00:00 <==
# cmd: /opt/conda/bin/conda install -y numpy
# conda version: 23.11.0
+conda-forge/linux-64::libblas-3.9.0-20_linux64_openblas
+conda-forge/linux-64::numpy-1.26.2-py311h64a7726_0
# update specs: ['numpy']
"""


def conda_record(name: str, version: str, build: str) -> str:
    return json.dumps({
        "name": name, "version": version, "build": build, "build_number": 0,
        "channel": "https://conda.anaconda.org/conda-forge/linux-64", "subdir": "linux-64",
        "fn": f"{name}-{version}-{build}.conda", "depends": [], "files": [], "paths_data": {"paths": []},
        "requested_spec": "numpy" if name == "numpy" else "",
    })


@pytest.fixture(scope="module")
def project(docker_client, tmp_path_factory):
    with project_dir(docker_client, tmp_path_factory, "agent-it", BUILD_ENVD) as path:
        yield path


def sh(project: Path, script: str) -> str:
    return run_cli("exec", "--", *QUIET, "sh", "-c", script, cwd=project, check=True).stdout


def rows(project: Path) -> list[dict]:
    journal = project / ".envtrack" / "journal.db"
    if not journal.exists():
        return []
    with sqlite3.connect(journal) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM changes ORDER BY id")]


def wait_for(project: Path, wanted: set[tuple[str, str, str]], timeout: float = 30) -> dict:
    """Rows by (manager, name, action) once all of WANTED are in the journal."""
    deadline = time.monotonic() + timeout
    found: dict = {}
    while time.monotonic() < deadline:
        found = {(r["manager"], r["name"], r["action"]): r for r in rows(project)}
        if wanted <= set(found):
            return found
        time.sleep(0.2)
    pytest.fail(f"not journaled within {timeout}s: {sorted(wanted - set(found))}; journal: {sorted(found)}")


def agent_pid(project: Path) -> int:
    return json.loads((project / ".envtrack" / "agent.json").read_text())["pid"]


def status(project: Path) -> dict:
    return json.loads(run_cli("status", "--json", cwd=project, check=True).stdout)


def test_up_starts_a_healthy_agent_with_a_baseline(project: Path) -> None:
    info = status(project)
    assert info["state"] == "running" and info["agent"] == "healthy", info
    with sqlite3.connect(project / ".envtrack" / "journal.db") as db:
        baseline = dict(db.execute("SELECT manager, COUNT(*) FROM baseline GROUP BY manager").fetchall())
    assert baseline.get("apt", 0) > 50 and baseline.get("pip", 0) >= 1, baseline


def test_apt_install_records_the_package_as_requested_and_its_libraries_as_dependencies(project: Path) -> None:
    sh(project, "apt-get install -y -q --no-install-recommends jq >/dev/null")   # up refreshed the lists
    found = wait_for(project, {("apt", "jq", "install"), ("apt", "libjq1", "install"), ("apt", "libonig5", "install")})
    assert found[("apt", "jq", "install")]["requested"] == 1
    assert found[("apt", "libjq1", "install")]["requested"] == 0
    assert found[("apt", "libonig5", "install")]["requested"] == 0
    assert "apt-get install" in json.loads(found[("apt", "jq", "install")]["detail"])["commandline"]
    assert found[("apt", "jq", "install")]["env"] == "/" and found[("apt", "jq", "install")]["arch"]


def test_pip_install_and_uninstall_with_a_dependency(project: Path) -> None:
    sh(project, "python3 -m pip install -q python-dateutil==2.9.0.post0")
    found = wait_for(project, {("pip", "python-dateutil", "install"), ("pip", "six", "install")})
    assert found[("pip", "python-dateutil", "install")]["requested"] == 1
    assert found[("pip", "six", "install")]["requested"] == 0
    assert found[("pip", "python-dateutil", "install")]["new_version"] == "2.9.0.post0"
    assert found[("pip", "six", "install")]["env"] == "/opt/envtrack/venv/lib/python3.11/site-packages"

    sh(project, "python3 -m pip uninstall -y -q python-dateutil")
    found = wait_for(project, {("pip", "python-dateutil", "remove")})
    removed = found[("pip", "python-dateutil", "remove")]
    assert (removed["old_version"], removed["new_version"]) == ("2.9.0.post0", None)


def test_pip_upgrade_is_one_upgrade_row(project: Path) -> None:
    sh(project, "python3 -m pip install -q tomli==2.0.0")
    wait_for(project, {("pip", "tomli", "install")})
    sh(project, "python3 -m pip install -q --upgrade tomli==2.0.1")
    found = wait_for(project, {("pip", "tomli", "upgrade")})
    upgrade = found[("pip", "tomli", "upgrade")]
    assert (upgrade["old_version"], upgrade["new_version"], upgrade["requested"]) == ("2.0.0", "2.0.1", 1)


def test_conda_records_in_a_new_prefix_are_journaled_with_requested_specs(project: Path) -> None:
    # conda itself cannot reach a channel here, so write what it writes: records and history,
    # prepared in the project dir (mounted at /workspace) and moved into place at once.
    meta = project / ".conda-fixture" / "conda-meta"
    meta.mkdir(parents=True)
    (meta / "history").write_text(CONDA_HISTORY)
    (meta / "numpy-1.26.2-py311h64a7726_0.json").write_text(conda_record("numpy", "1.26.2", "py311h64a7726_0"))
    (meta / "libblas-3.9.0-20_linux64_openblas.json").write_text(
        conda_record("libblas", "3.9.0", "20_linux64_openblas"))
    sh(project, "cp -r /workspace/.conda-fixture /opt/conda.part && mv /opt/conda.part /opt/conda")
    found = wait_for(project, {("conda", "numpy", "install"), ("conda", "libblas", "install")})
    numpy, libblas = found[("conda", "numpy", "install")], found[("conda", "libblas", "install")]
    assert (numpy["requested"], libblas["requested"]) == (1, 0)
    assert numpy["env"] == "/opt/conda" and numpy["build"] == "py311h64a7726_0"
    assert numpy["source"] == "https://conda.anaconda.org/conda-forge/linux-64"


def test_changes_while_the_agent_is_down_are_reconciled_on_the_next_up(project: Path, docker_client) -> None:
    sh(project, f"kill {agent_pid(project)}")
    deadline = time.monotonic() + 10
    while status(project)["agent"] != "not running":
        assert time.monotonic() < deadline, "the agent did not die"
        time.sleep(0.2)
    # Behind envtrack's back: `envtrack exec` would restart the agent first.
    installed = docker_client.containers.get(names_of(project).container).exec_run(
        ["sh", "-c", "PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install -q packaging==24.0"])
    assert installed.exit_code == 0, installed.output
    time.sleep(1)
    assert ("pip", "packaging", "install") not in {(r["manager"], r["name"], r["action"]) for r in rows(project)}

    run_cli("up", "--progress", "quiet", cwd=project, check=True)
    found = wait_for(project, {("pip", "packaging", "install")})
    assert found[("pip", "packaging", "install")]["reconciled"] == 1
    assert found[("pip", "packaging", "install")]["requested"] == 1
    assert status(project)["agent"] == "healthy"


def test_a_stopped_container_loses_nothing_and_recording_resumes_after_up(project: Path, docker_client) -> None:
    before = rows(project)
    assert before, "earlier tests recorded nothing"
    docker_client.containers.get(names_of(project).container).stop(timeout=2)
    assert rows(project) == before

    out = run_cli("up", "--progress", "quiet", cwd=project, check=True).stdout
    assert "started" in out, out
    assert rows(project)[: len(before)] == before
    sh(project, "python3 -m pip uninstall -y -q packaging")
    found = wait_for(project, {("pip", "packaging", "remove")})
    assert found[("pip", "packaging", "remove")]["reconciled"] == 0


def test_log_shows_requested_changes_apart_from_dependencies(project: Path) -> None:
    wait_for(project, {("apt", "jq", "install"), ("apt", "libjq1", "install")})
    text = run_cli("log", cwd=project, check=True).stdout
    requested, _, dependencies = text.partition("dependencies:")
    assert " jq " in requested and "libjq1" not in requested
    assert "libjq1" in dependencies
    every = json.loads(run_cli("log", "--json", cwd=project, check=True).stdout)
    assert [r["id"] for r in every] == sorted(r["id"] for r in every)
    later = json.loads(run_cli("log", "--json", "--since", str(every[-2]["id"]), cwd=project, check=True).stdout)
    assert [r["id"] for r in later] == [every[-1]["id"]]
