"""How `up` starts the agent, on the real engine: a dying agent is reported at once with its
log line, and without any way to run an agent `up` says recording is off while `sync` and
`snapshot` still work by reconciling the container's records against the baseline.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from conftest import run_cli

PYTHON_ENV = """\
def build():
    base(image="envtrack/base:bookworm", dev=True)
    run(commands=["true"])
"""
NO_PYTHON_ENV = """\
def build():
    base(image="envtrack/base:bookworm-nopython")
    install.apt_packages(name=["jq"])
"""


@pytest.fixture
def project(scratch_project: Path) -> Path:
    return scratch_project


def test_an_agent_that_dies_at_start_is_reported_at_once_with_its_log_line(project: Path) -> None:
    (project / "build.envd").write_text(PYTHON_ENV)
    run_cli("build", "--progress", "quiet", cwd=project, check=True)
    (project / ".envtrack" / "journal.db").mkdir(parents=True)   # the agent cannot open its journal

    started = time.monotonic()
    up = run_cli("up", "--no-build", cwd=project)
    took = time.monotonic() - started

    assert up.returncode == 1, up
    assert "the agent exited at start" in up.stderr and "cannot use the journal" in up.stderr, up.stderr
    assert "Traceback" not in up.stderr + up.stdout
    assert took < 30, f"up waited {took:.0f} s for an agent that had exited (the old heartbeat wait was 60 s)"


def test_without_any_agent_up_says_recording_is_off_and_sync_reconciles(project: Path) -> None:
    (project / "build.envd").write_text(NO_PYTHON_ENV)
    off = {"ENVTRACK_AGENT_IMAGE": "envtrack/no-such-agent-image:none"}
    up = run_cli("up", "--progress", "quiet", cwd=project, env=off, check=True)
    lines = [line for line in up.stdout.splitlines() if "live recording is off" in line]
    assert len(lines) == 1 and "no system python3" in lines[0] and "no-such-agent-image" in lines[0], up.stdout

    run_cli("exec", "--", "sh", "-c", "DEBIAN_FRONTEND=noninteractive apt-get install -y -q tree >/dev/null",
            cwd=project, check=True)
    sync = json.loads(run_cli("sync", "--json", cwd=project, env=off, check=True).stdout)
    assert sync, sync
    assert '"tree=' in (project / "build.envd").read_text()
    log = run_cli("log", "--json", cwd=project, check=True).stdout
    tree = [row for row in json.loads(log) if row["name"] == "tree"]
    assert tree and tree[0]["reconciled"] and tree[0]["requested"], tree

    run_cli("snapshot", cwd=project, check=True)
    assert "tree" in (project / "envtrack.lock").read_text()
