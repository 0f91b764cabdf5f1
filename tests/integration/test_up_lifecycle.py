"""`envtrack up/exec/status/down` on the real engine: reuse, recreation on a new image,
runtime environment (host CA, runtime.environ, workspace mount), exit codes, and a journal
that outlives the container.

One project for the module; the order of the tests is the order of a user's session.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from conftest import names_of, project_dir, run_cli

BUILD_ENVD = """\
def build():
    base(image="envtrack/base:bookworm", dev=True)
    install.python()
    runtime.environ(env={"STAGE": "one"})
"""
SITE = "/opt/envtrack/venv/lib/python3.11/site-packages"


@pytest.fixture(scope="module")
def project(docker_client, tmp_path_factory):
    with project_dir(docker_client, tmp_path_factory, "up-it", BUILD_ENVD, up=False) as path:
        yield path


def up(project: Path) -> str:
    return run_cli("up", "--progress", "quiet", cwd=project, check=True).stdout


def status(project: Path) -> dict:
    return json.loads(run_cli("status", "--json", cwd=project, check=True).stdout)


def test_up_creates_then_reuses_the_container(project: Path, docker_client) -> None:
    assert up(project).startswith("created ")
    first = docker_client.containers.get(names_of(project).container)
    assert up(project).startswith("reused ")
    assert docker_client.containers.get(names_of(project).container).id == first.id
    info = status(project)
    assert (info["state"], info["agent"]) == ("running", "healthy"), info
    assert info["image"].startswith(f"{names_of(project).image_repo}:")


def test_runtime_environment(project: Path) -> None:
    (project / "marker.txt").write_text("from the host\n")
    out = run_cli("exec", "--", "sh", "-c", 'echo "$STAGE $PIP_CERT $PWD"; cat marker.txt; test -s "$PIP_CERT"',
                  cwd=project, check=True).stdout
    assert out.splitlines() == ["one /etc/envtrack/runtime-ca.pem /workspace", "from the host"]


def test_exec_propagates_the_exit_code_and_streams(project: Path) -> None:
    proc = run_cli("exec", "--", "sh", "-c", "echo out; echo err >&2; exit 7", cwd=project)
    assert (proc.returncode, proc.stdout, proc.stderr.strip()) == (7, "out\n", "err")


def test_a_new_image_recreates_the_container_with_a_new_baseline(project: Path, docker_client) -> None:
    before = docker_client.containers.get(names_of(project).container).id
    # A package only this container has: the new container must not journal it as removed.
    run_cli("exec", "--", "sh", "-c", f"d={SITE}/localonly-1.0.dist-info && mkdir $d && "
            "printf 'Metadata-Version: 2.1\\nName: localonly\\nVersion: 1.0\\n' > $d/METADATA && "
            "echo pip > $d/INSTALLER && touch $d/REQUESTED && "
            "echo localonly-1.0.dist-info/INSTALLER,, > $d/RECORD", cwd=project, check=True)  # pip's final RECORD
    deadline = time.monotonic() + 10
    while status(project)["changes"]["total"] != 1:
        assert time.monotonic() < deadline, "the hand-made install was not journaled"
        time.sleep(0.2)
    (project / "build.envd").write_text(BUILD_ENVD.replace('"one"', '"two"'))
    assert up(project).startswith("recreated ")
    assert docker_client.containers.get(names_of(project).container).id != before
    assert run_cli("exec", "--", "sh", "-c", "echo $STAGE", cwd=project, check=True).stdout == "two\n"
    assert status(project)["agent"] == "healthy"
    assert status(project)["changes"]["total"] == 1   # a new image is a new baseline, not changes


def test_down_removes_the_container_and_keeps_the_journal(project: Path, docker_client) -> None:
    assert run_cli("down", cwd=project, check=True).returncode == 0
    assert not docker_client.containers.list(all=True, filters={"name": names_of(project).container})
    assert (project / ".envtrack" / "journal.db").exists()
    info = status(project)
    assert (info["state"], info["agent"]) == ("absent", "not running")
    proc = run_cli("exec", "--", "true", cwd=project)
    assert proc.returncode == 1 and "not running" in proc.stderr and "Traceback" not in proc.stderr
