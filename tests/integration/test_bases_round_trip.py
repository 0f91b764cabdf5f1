"""Record, sync and rebuild on every base a user may start from (issue 10).

bullseye (Python 3.9) and trixie (3.13): the agent runs on the container's own python3; pip
installs with a dependency, a pip uninstall and an apt install with no `apt-get update`
first are journaled, `sync` writes them back, and the rebuilt environment has them.
(bookworm, 3.11, is the same round trip in test_sync_e2e.py.)

bookworm-nopython: no python3 at all, so the agent runs in a companion container sharing the
environment's PID namespace; an apt install is journaled, synced and rebuilt, and `snapshot`
reads the running container's records without a python3 in it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from conftest import names_of, run_cli

QUIET = ["env", "DEBIAN_FRONTEND=noninteractive", "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_CACHE_DIR=1"]
PYTHON_BASE = """\
def build():
    base(image="envtrack/base:{suite}", dev=True)
    install.python(version="{python}")
    install.python_packages(name=["six"])
"""
NO_PYTHON_BASE = """\
def build():
    base(image="envtrack/base:bookworm-nopython")
    install.apt_packages(name=["jq"])
"""
PYTHON_ROWS = {("pip", "jinja2", "install"), ("pip", "markupsafe", "install"), ("pip", "six", "remove"),
               ("apt", "tree", "install")}
VERSIONS = ("import importlib.metadata as m, json\n"
            "def v(n):\n"
            "    try: return m.version(n)\n"
            "    except m.PackageNotFoundError: return None\n"
            "print(json.dumps({n: v(n) for n in ['jinja2', 'markupsafe', 'six']}))\n")


def cli(project: Path, *args: str):
    return run_cli(*args, cwd=project, check=True)


def sh(project: Path, script: str) -> str:
    return cli(project, "exec", "--", *QUIET, "sh", "-c", script).stdout


def wait_for(project: Path, wanted: set, timeout: float = 60) -> dict:
    journal = project / ".envtrack" / "journal.db"
    deadline = time.monotonic() + timeout
    found: dict = {}
    while time.monotonic() < deadline:
        if journal.exists():
            with sqlite3.connect(journal) as db:
                db.row_factory = sqlite3.Row
                found = {(r["manager"], r["name"].lower(), r["action"]): dict(r)
                         for r in db.execute("SELECT * FROM changes ORDER BY id")}
            if wanted <= set(found):
                return found
        time.sleep(0.5)
    pytest.fail(f"not journaled within {timeout}s: {sorted(wanted - set(found))}; journal: {sorted(found)}")


@pytest.fixture
def project(scratch_project: Path) -> Path:
    return scratch_project


@pytest.mark.parametrize("suite,python", [("bullseye", "3.9"), ("trixie", "3.13")])
def test_round_trip_on_the_containers_own_python(project: Path, suite: str, python: str) -> None:
    (project / "build.envd").write_text(PYTHON_BASE.format(suite=suite, python=python))
    up = cli(project, "up", "--progress", "quiet")
    assert "agent started (pid" in up.stdout, up.stdout
    assert sh(project, "python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'").strip() == python

    sh(project, "python3 -m pip install -q jinja2 && python3 -m pip uninstall -y -q six")
    sh(project, "apt-get install -y -q --no-install-recommends tree >/dev/null")   # no apt-get update first
    found = wait_for(project, PYTHON_ROWS)
    assert found[("pip", "jinja2", "install")]["requested"] == 1
    assert found[("pip", "markupsafe", "install")]["requested"] == 0
    assert "jinja2" in cli(project, "log").stdout

    cli(project, "sync")
    synced = (project / "build.envd").read_text()
    jinja2 = found[("pip", "jinja2", "install")]["new_version"]
    assert f"jinja2=={jinja2}" in synced and "markupsafe" not in synced and '"six"' not in synced, synced
    assert '"tree=' in synced, synced

    cli(project, "down")
    cli(project, "up", "--progress", "quiet")
    versions = json.loads(cli(project, "exec", "--", "python3", "-c", VERSIONS).stdout)
    assert versions["jinja2"] == jinja2 and versions["markupsafe"] and versions["six"] is None, versions
    cli(project, "exec", "--", "tree", "--version")


def test_round_trip_without_python_records_from_a_companion(project: Path, docker_client) -> None:
    (project / "build.envd").write_text(NO_PYTHON_BASE)
    started = time.monotonic()
    up = cli(project, "up", "--progress", "quiet")
    assert "agent started in companion container" in up.stdout, up.stdout
    assert sh(project, "command -v python3 || echo none").strip() == "none"
    status = json.loads(cli(project, "status", "--json").stdout)
    assert status["agent"] == "healthy", status
    assert time.monotonic() - started < 300

    sh(project, "apt-get install -y -q --no-install-recommends tree >/dev/null && apt-get remove -y -q jq >/dev/null")
    found = wait_for(project, {("apt", "tree", "install"), ("apt", "jq", "remove")})
    assert found[("apt", "tree", "install")]["requested"] == 1

    lock = json.loads(cli(project, "snapshot", "--json").stdout)   # no python3 in the container to read it
    assert lock, lock
    assert "tree" in (project / "envtrack.lock").read_text()

    cli(project, "sync")
    synced = (project / "build.envd").read_text()
    assert '"tree=' in synced and 'jq' not in synced, synced
    cli(project, "down")
    assert not docker_client.containers.list(all=True, filters={"name": names_of(project).container}), \
        "down leaves neither the environment nor its companion"
    cli(project, "up", "--progress", "quiet")
    cli(project, "exec", "--", "tree", "--version")
