"""Engine setup is idempotent, starts a daemon when none answers, and doctor is all green."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import run_cli
from envtrack.engine.doctor import SETUP_SCRIPT


def test_setup_twice_then_doctor_all_green(docker_client):
    first = subprocess.run(["bash", str(SETUP_SCRIPT)], capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr

    # Idempotent means nothing is redone: the same daemon answers and setup says so. (How fast
    # that is belongs to bench/, not here: the first CLI call of a run also builds the test venv.)
    daemon_before = _dockerd_pid()
    second = run_cli("engine", "setup", timeout=60)
    assert second.returncode == 0, second.stderr
    assert _dockerd_pid() == daemon_before
    assert "nothing to do" in second.stderr
    for action in ("installing", "starting dockerd", "creating"):
        assert action not in second.stderr

    proc = run_cli("doctor", "--json")
    checks = json.loads(proc.stdout)
    assert [c for c in checks if not c["ok"]] == [] and proc.returncode == 0
    assert {c["name"] for c in checks} == {
        "engine", "storage-driver", "buildkit", "base-image", "disk", "ca-bundle", "proxy", "mirrors",
        "downloads"}
    assert next(c for c in checks if c["name"] == "base-image")["detail"].endswith("current)")


def _dockerd_pid() -> str:
    return subprocess.run(["pgrep", "-o", "-x", "dockerd"], capture_output=True, text=True).stdout.strip()


@pytest.fixture
def private_daemon():
    """Where a second, throw-away dockerd lives; stopped and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="envtrack-d-", dir="/var/tmp"))
    # A bridge of its own: with --bridge=none dockerd deletes docker0, the main daemon's bridge.
    bridge = f"ett{os.getpid() % 100000}"
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    env = dict(
        os.environ,
        DOCKER_HOST=f"unix://{root}/docker.sock",
        ENVTRACK_DOCKERD_LOG=str(root / "dockerd.log"),
        # vfs, no networking and its own containerd namespace: nothing shared with the main daemon.
        ENVTRACK_DOCKERD_ARGS=(
            f"--data-root {root}/data --exec-root {root}/exec --pidfile {root}/docker.pid "
            f"--storage-driver vfs --bridge={bridge} --iptables=false --ip-masq=false "
            "--containerd-namespace envtrack-test --containerd-plugins-namespace envtrack-test-plugins"
        ),
    )
    yield root, env
    _stop(root / "docker.pid")
    subprocess.run(["umount", "-R", str(root / "data")], capture_output=True)
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run(["ip", "link", "delete", bridge], capture_output=True)


def _stop(pidfile: Path) -> None:
    try:
        pid = int(pidfile.read_text())
    except (OSError, ValueError):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def test_setup_starts_dockerd_when_none_answers(docker_client, private_daemon):
    root, env = private_daemon
    setup = ["bash", str(SETUP_SCRIPT), "--engine-only"]

    first = subprocess.run(setup, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr + (root / "dockerd.log").read_text()[-2000:]
    assert "starting dockerd" in first.stderr and "answers on" in first.stderr
    assert int((root / "docker.pid").read_text()) > 0

    again = subprocess.run(setup, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "nothing to do" in again.stderr

    checks = {c["name"]: c for c in json.loads(run_cli("doctor", "--json", env=env).stdout)}
    assert checks["engine"]["ok"] and str(root) in checks["engine"]["detail"]
    assert checks["buildkit"]["ok"]
    # A new daemon has no images: doctor names the command that makes the base image.
    assert not checks["base-image"]["ok"] and checks["base-image"]["fix"] == "envtrack engine setup"
    assert not checks["storage-driver"]["ok"]  # vfs is correctly reported as unsuitable


def test_setup_fails_clearly_when_dockerd_cannot_start(docker_client, private_daemon):
    root, env = private_daemon
    env = dict(env, ENVTRACK_DOCKERD_ARGS=env["ENVTRACK_DOCKERD_ARGS"] + " --no-such-dockerd-flag")
    proc = subprocess.run(["bash", str(SETUP_SCRIPT), "--engine-only"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "dockerd exited instead of answering" in proc.stderr
    assert str(root / "dockerd.log") in proc.stderr
