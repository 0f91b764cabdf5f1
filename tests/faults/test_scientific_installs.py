"""Large installs with deep dependency trees, several at once and one by one, then sync:
build.envd gets exactly the packages asked for (pip's and uv's REQUESTED, read only once
the installer has finished its records), never numpy or mpmath that came as dependencies.

The wheels are large: they are downloaded once per run into the container's pip cache.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path

import pytest

from conftest import project_dir, run_cli

BUILD_ENVD = """\
def build():
    base(image="envtrack/base:bookworm", dev=True)
    install.python()
"""
ASKED = {"sympy", "pandas", "scipy", "uv", "httpx"}
DEPENDENCIES = {"mpmath", "numpy", "python-dateutil", "pytz", "tzdata", "six", "anyio", "httpcore", "idna",
                "certifi", "h11", "sniffio"}
PIP = "PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install -q "


@pytest.fixture(scope="module")
def project(docker_client, tmp_path_factory):
    with project_dir(docker_client, tmp_path_factory, "science", BUILD_ENVD) as path:
        yield path


def sh(project: Path, script: str) -> None:
    run_cli("exec", "--", "sh", "-c", script, cwd=project, check=True, timeout=1200)


def final_flags(project: Path) -> dict[str, int]:
    """Each pip package's requested flag after its last row (marks included)."""
    with sqlite3.connect(project / ".envtrack" / "journal.db") as db:
        return {name: requested for name, requested in
                db.execute("SELECT name, requested FROM changes WHERE manager = 'pip' ORDER BY id")}


def wait_for_names(project: Path, names: set[str], timeout: float = 60) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while not names <= set(final_flags(project)):
        assert time.monotonic() < deadline, f"not journaled: {sorted(names - set(final_flags(project)))}"
        time.sleep(0.3)
    return final_flags(project)


def test_deep_trees_several_at_once_and_one_by_one_sync_exactly_what_was_asked(project: Path) -> None:
    sh(project, PIP + "sympy pandas")
    sh(project, PIP + "scipy")
    sh(project, PIP + "uv && VIRTUAL_ENV=/opt/envtrack/venv uv pip install -q httpx")
    flags = wait_for_names(project, ASKED | {"mpmath", "numpy", "anyio"})
    time.sleep(1)  # a late mark row would come within the agent's debounce
    flags = final_flags(project)
    assert {name for name, requested in flags.items() if requested} == ASKED, flags

    sync = run_cli("sync", cwd=project, check=True)
    text = (project / "build.envd").read_text()
    written = set(re.findall(r'"([A-Za-z0-9_.-]+)==', text))
    assert written == ASKED, (text, sync.stdout, sync.stderr)
    assert not written & DEPENDENCIES
    plan = json.loads(run_cli("plan", "--json", cwd=project, check=True).stdout)
    assert plan, "the synced build.envd must plan"
