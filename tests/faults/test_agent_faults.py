"""Faults on the real engine: the agent or the container dies mid-install, `down` after a dead
agent, concurrent commands, and a planted secret that must appear in no file envtrack writes.

One project for the module (tree declared, so a wrong `remove tree` would show in sync).
Installs run through `docker exec` where the point is that envtrack is not watching.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import names_of, project_dir, run_cli

BUILD_ENVD = """\
def build():
    base(image="envtrack/base:bookworm", dev=True)
    install.python()
    install.apt_packages(name=["tree"])
"""
SITE = "/opt/envtrack/venv/lib/python3.11/site-packages"
QUIET = "export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1; "
SECRETS = ("S3CRET-TOKEN", "S3CRET-SIG", "S3CRET-PASS", "S3CRET-PROXY")


@pytest.fixture(scope="module")
def project(docker_client, tmp_path_factory):
    with project_dir(docker_client, tmp_path_factory, "faults", BUILD_ENVD) as path:
        yield path


def container(docker_client, project: Path):
    return docker_client.containers.get(names_of(project).container)


def behind_envtracks_back(docker_client, project: Path, script: str, *, detach: bool = False) -> str:
    """Run SCRIPT in the container without envtrack (which would restart a dead agent first)."""
    result = container(docker_client, project).exec_run(["sh", "-c", QUIET + script], detach=detach)
    if detach:
        return ""
    output = result.output.decode(errors="replace")
    assert result.exit_code == 0, output
    return output


def journal(project: Path) -> list[dict]:
    with sqlite3.connect(project / ".envtrack" / "journal.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM changes ORDER BY id")]


def latest(project: Path) -> dict:
    """The last row per (manager, name)."""
    return {(r["manager"], r["name"]): r for r in journal(project)}


def agent_pid(project: Path) -> int:
    return json.loads((project / ".envtrack" / "agent.json").read_text())["pid"]


def kill_agent(docker_client, project: Path) -> None:
    behind_envtracks_back(docker_client, project, f"kill -9 {agent_pid(project)}")


def wait_until(predicate, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def running_command(docker_client, project: Path, name: str) -> bool:
    out = container(docker_client, project).exec_run(["sh", "-c", "cat /proc/[0-9]*/comm 2>/dev/null"]).output
    return name in out.decode(errors="replace").split()


def test_status_calls_a_killed_agent_dead_at_once(project: Path, docker_client) -> None:
    kill_agent(docker_client, project)
    info = json.loads(run_cli("status", "--json", cwd=project, check=True).stdout)
    assert info["agent"] == "not running" and info["agent_detail"]["healthy"] is False, info
    logged = run_cli("log", cwd=project, check=True)
    warnings = [line for line in logged.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "restarted" in warnings[0], logged.stderr
    assert json.loads(run_cli("status", "--json", cwd=project, check=True).stdout)["agent"] == "healthy"


def test_agent_sigkill_during_a_pip_install_loses_nothing_and_flags_stay_exact(project: Path, docker_client) -> None:
    behind_envtracks_back(docker_client, project, "rm -f /tmp/pip.done; "
                          "(python3 -m pip install -q sympy==1.13.3; echo $? > /tmp/pip.done) >/tmp/pip.log 2>&1",
                          detach=True)
    pip_done = lambda: behind_envtracks_back(docker_client, project, "cat /tmp/pip.done 2>/dev/null || true").strip()
    # Kill the agent while pip is writing sympy's files (between extraction and its final RECORD).
    wait_until(lambda: pip_done() or behind_envtracks_back(
        docker_client, project, f"ls -d {SITE}/sympy* 2>/dev/null || true").strip(), "pip to start writing sympy")
    kill_agent(docker_client, project)
    wait_until(pip_done, "pip to finish", timeout=300)
    assert pip_done() == "0", behind_envtracks_back(docker_client, project, "cat /tmp/pip.log")
    run_cli("exec", "--", "true", cwd=project, check=True)  # warns, restarts the agent: reconciles
    rows = latest(project)
    assert rows[("pip", "sympy")]["new_version"] == "1.13.3" and rows[("pip", "sympy")]["requested"] == 1
    assert rows[("pip", "mpmath")]["requested"] == 0, rows[("pip", "mpmath")]


def test_agent_sigkill_during_an_apt_install_loses_nothing(project: Path, docker_client) -> None:
    behind_envtracks_back(docker_client, project, "apt-get update -q -o Acquire::Retries=3 >/dev/null 2>&1; "
                          "rm -f /tmp/apt.done; (apt-get install -y -q --no-install-recommends jq; "
                          "echo $? > /tmp/apt.done) >/tmp/apt.log 2>&1",
                          detach=True)
    apt_done = lambda: behind_envtracks_back(docker_client, project, "cat /tmp/apt.done 2>/dev/null || true").strip()
    wait_until(lambda: running_command(docker_client, project, "dpkg") or apt_done(), "dpkg to start", timeout=300)
    kill_agent(docker_client, project)
    wait_until(apt_done, "apt to finish", timeout=300)
    assert apt_done() == "0", behind_envtracks_back(docker_client, project, "cat /tmp/apt.log")
    result = run_cli("sync", "--dry-run", cwd=project, check=True)
    assert "warning: the agent" in result.stderr and "restarted" in result.stderr, result.stderr
    rows = latest(project)
    assert rows[("apt", "jq")]["action"] == "install" and rows[("apt", "jq")]["requested"] == 1
    assert rows[("apt", "libjq1")]["requested"] == 0
    assert any(line.startswith("+") and "jq" in line for line in result.stdout.splitlines()), result.stdout


def test_a_container_killed_mid_reinstall_keeps_the_package(project: Path, docker_client) -> None:
    # What `apt-get install --reinstall tree` does, stopped where a kill leaves dpkg: tree's new
    # files unpacked, not configured. Then the `dpkg --configure -a` apt asks for.
    behind_envtracks_back(docker_client, project, "apt-get update -q -o Acquire::Retries=3 >/dev/null 2>&1; "
                          "cd /tmp && apt-get download -q tree && "
                          "dpkg --unpack /tmp/tree_*.deb >/dev/null && dpkg-query -W -f='${Status}' tree")
    ids = {r["id"] for r in journal(project)}
    container(docker_client, project).kill()
    run_cli("up", "--progress", "quiet", cwd=project, check=True)  # restarts it; the agent reconciles
    behind_envtracks_back(docker_client, project, "dpkg --configure -a")
    run_cli("exec", "--", "true", cwd=project, check=True)
    new_tree_rows = [r for r in journal(project) if r["id"] not in ids and r["name"] == "tree"]
    assert all(r["action"] != "remove" for r in new_tree_rows), new_tree_rows
    dry = run_cli("sync", "--dry-run", cwd=project, check=True).stdout
    removed = [line for line in dry.splitlines() if line.startswith("-") and '"tree"' in line]
    added = [line for line in dry.splitlines() if line.startswith("+") and '"tree"' in line]
    assert len(added) == len(removed), dry  # an edited line keeps tree; none drops it


def test_concurrent_up_and_sync_and_two_ups_serialise(project: Path) -> None:
    env = dict(os.environ)
    commands = [["up", "--progress", "quiet"], ["sync", "--dry-run"], ["up", "--progress", "quiet"]]
    procs = [subprocess.Popen([sys.executable, "-m", "envtrack", *c], cwd=project, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for c in commands]
    results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    for code, out, err in results:
        assert code == 0, (out, err)
        assert "Traceback" not in err and "Client Error" not in err and "Conflict" not in err, err
    assert json.loads(run_cli("status", "--json", cwd=project, check=True).stdout)["agent"] == "healthy"


def test_a_planted_secret_is_in_no_file_envtrack_writes(project: Path, docker_client, tmp_path: Path) -> None:
    behind_envtracks_back(docker_client, project, "mkdir -p /tmp/wheels && "
                          "python3 -m pip download -q --no-deps -d /tmp/wheels iniconfig==2.0.0")
    behind_envtracks_back(docker_client, project, "cd /tmp/wheels && exec python3 -m http.server 8765 --bind 127.0.0.1",
                          detach=True)
    wait_until(lambda: "ok" in behind_envtracks_back(
        docker_client, project, "python3 -c 'import urllib.request as u; u.urlopen(\"http://127.0.0.1:8765/\"); "
                                "print(\"ok\")' 2>/dev/null || true"), "the wheel server", timeout=30)
    url = ("http://wheeluser:S3CRET-PASS@127.0.0.1:8765/iniconfig-2.0.0-py3-none-any.whl"
           "?token=S3CRET-TOKEN&X-Amz-Signature=S3CRET-SIG")
    run_cli("exec", "--", "sh", "-c", QUIET + f"python3 -m pip install -q '{url}'", cwd=project, check=True)
    proxy = "-o Acquire::http::Proxy::unused.invalid=http://proxyuser:S3CRET-PROXY@127.0.0.1:9"
    apt = (f"apt-get update -q -o Acquire::Retries=3 >/dev/null; "
           f"apt-get {proxy} install -y -q --no-install-recommends bc")
    run_cli("exec", "--", "sh", "-c", QUIET + apt + " >/dev/null", cwd=project, check=True)
    wait_until(lambda: ("pip", "iniconfig") in latest(project)
               and "unused.invalid" in (latest(project).get(("apt", "bc"), {}).get("detail") or ""),
               "both rows", timeout=30)
    outputs = [run_cli("log", "--json", cwd=project, check=True).stdout, run_cli("log", cwd=project, check=True).stdout,
               run_cli("sync", "--dry-run", cwd=project, check=True).stdout,
               run_cli("status", "--json", cwd=project, check=True).stdout]
    lock = tmp_path / "envtrack.lock"
    run_cli("snapshot", "-o", str(lock), cwd=project, check=True)
    written = {str(p): p.read_bytes() for p in (project / ".envtrack").rglob("*") if p.is_file()}
    written[str(lock)] = lock.read_bytes()
    assert str(project / ".envtrack" / "journal.db") in written and any(k.endswith("agent.log") for k in written)
    for secret in SECRETS:
        for name, data in written.items():
            assert secret.encode() not in data, f"{secret} in {name}"
        for text in outputs:
            assert secret not in text
    assert "iniconfig" in lock.read_text()


def test_down_after_the_agent_died_reconciles_before_removing(project: Path, docker_client) -> None:
    kill_agent(docker_client, project)
    behind_envtracks_back(docker_client, project, "python3 -m pip install -q tomli==2.0.1")
    ids = {r["id"] for r in journal(project)}
    result = run_cli("down", cwd=project, check=True)
    late = [(r["action"], r["name"], r["reconciled"]) for r in journal(project) if r["id"] not in ids]
    assert "reconciled 1 change" in result.stdout, (result.stdout, late)
    row = latest(project)[("pip", "tomli")]
    assert (row["action"], row["new_version"], row["reconciled"], row["requested"]) == ("install", "2.0.1", 1, 1)


def test_state_files_are_private(project: Path) -> None:
    state = project / ".envtrack"
    assert state.stat().st_mode & 0o777 == 0o700
    for path in state.rglob("*"):
        want = 0o700 if path.is_dir() else 0o600
        assert path.stat().st_mode & 0o777 == want, f"{path} is {oct(path.stat().st_mode & 0o777)}"
