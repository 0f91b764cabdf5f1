"""base(dev=True) on the real engine, as an envd user lives in it: shell/exec as the dev user
(its uid and gid the owner's), what that user installs with pip and `sudo apt-get` journaled
and synced, `ssh PROJECT.envtrack` through envtrack's ssh_config with a key made here, the
host's SSH agent (one this test starts) inside exec, shell and ssh, and `down` removing the
entry. On a bookworm and a bullseye base, and on a base without Python.

HOME is the test's own, so the real ~/.ssh is never touched (ssh itself reads the passwd
entry's home, hence `ssh -F` on envtrack's file).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import names_of, run_cli

OWNER = 4242
BASES = {
    "bookworm": 'base(image="envtrack/base:bookworm", dev=True)\n    install.python()',
    "bullseye": 'base(image="envtrack/base:bullseye", dev=True)\n    install.python(version="3.9")',
    "bookworm-nopython": 'base(image="envtrack/base:bookworm-nopython", dev=True)',
}


def _ensure_ssh_client() -> None:
    """openssh-client on this machine (CI's is fresh): ssh, ssh-keygen, ssh-agent, ssh-add."""
    if all(shutil.which(tool) for tool in ("ssh", "ssh-keygen", "ssh-agent", "ssh-add")):
        return
    subprocess.run(["apt-get", "install", "-y", "-q", "openssh-client"], check=True, capture_output=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


@pytest.fixture
def ssh_home(tmp_path: Path) -> dict:
    """A HOME of the test's own, a key made here for envtrack to authorise, an ssh-agent holding another."""
    _ensure_ssh_client()
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text("Host mine\n  HostName 192.0.2.1\n")   # the user's own entry
    key = home / ".ssh" / "id_login"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    agent_key = tmp_path / "agent_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "forwarded-key", "-f", str(agent_key)],
                   check=True)
    agent_socket = tmp_path / "agent.sock"
    agent = subprocess.run(["ssh-agent", "-s", "-a", str(agent_socket)], check=True, capture_output=True, text=True)
    pid = int(agent.stdout.split("SSH_AGENT_PID=")[1].split(";")[0])
    env = {"HOME": str(home), "ENVTRACK_SSH_KEY": str(key), "SSH_AUTH_SOCK": str(agent_socket)}
    subprocess.run(["ssh-add", str(agent_key)], check=True, capture_output=True, env={**os.environ, **env})
    fingerprint = subprocess.run(["ssh-keygen", "-lf", f"{agent_key}.pub"], check=True, capture_output=True,
                                 text=True).stdout.split()[1]
    yield {**env, "fingerprint": fingerprint}
    os.kill(pid, 15)


def _cli(project: Path, env: dict, *args: str, **kwargs):
    return run_cli(*args, cwd=project, env={k: v for k, v in env.items() if k != "fingerprint"}, **kwargs)


def _wait_for_rows(project: Path, env: dict, names: set[str], timeout: float = 40) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        rows = json.loads(_cli(project, env, "log", "--json", check=True).stdout)
        if names <= {row["name"] for row in rows} or time.monotonic() > deadline:
            return rows
        time.sleep(1)


@pytest.mark.parametrize("suite", list(BASES))
def test_a_dev_environment_is_the_users_over_exec_shell_and_ssh(scratch_project: Path, ssh_home: dict,
                                                                  suite: str) -> None:
    project, env, python = scratch_project, ssh_home, suite != "bookworm-nopython"
    owner = f"\n    config.owner(uid={OWNER}, gid={OWNER})" if python else ""   # without: the host's (root here)
    (project / "build.envd").write_text(f"def build():\n    {BASES[suite]}{owner}\n")
    if python:
        os.chown(project, OWNER, OWNER)   # the project directory is its user's, as the host user's is
    _cli(project, env, "up", "--progress", "quiet", check=True)
    user, uid = ("envd", OWNER) if python else ("root", os.getuid())

    who = _cli(project, env, "exec", "--", "sh", "-c", "id -un; id -u; id -g", check=True).stdout.split()
    assert who == [user, str(uid), str(uid)], who
    assert _cli(project, env, "exec", "--root", "--", "id", "-un", check=True).stdout.strip() == "root"

    # install.python() gives a venv; the system Python's own pip is the user's to add, with sudo.
    installs = f"sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q tree{' python3-pip' if python else ''} >/dev/null"
    if python:   # into the venv the user owns, and into the user's own site of the system Python
        installs += (" && pip install -q --no-cache-dir tomli && PIP_BREAK_SYSTEM_PACKAGES=1 "
                     "/usr/bin/python3 -m pip install -q --no-cache-dir --user six")
    _cli(project, env, "exec", "--", "sh", "-c", installs, check=True)
    wanted = {"tree", "tomli", "six"} if python else {"tree"}
    rows = _wait_for_rows(project, env, wanted)
    assert wanted <= {row["name"] for row in rows if row["requested"]}, rows
    if python:
        assert any(row["name"] == "six" and "/home/envd/.local/" in row["env"] for row in rows), rows
    _cli(project, env, "sync", check=True)
    synced = (project / "build.envd").read_text()
    assert all(f'"{name}=' in synced for name in wanted), synced

    config = Path(env["HOME"]) / ".config" / "envtrack" / "ssh_config"
    alias = names_of(project).host_alias
    login = ["ssh", "-F", str(config), "-o", "BatchMode=yes", alias]
    probe = "python -c 'print(1)'" if python else "echo 1"
    answer = subprocess.run([*login, probe], capture_output=True, text=True, timeout=60, env={**os.environ, **env})
    assert answer.returncode == 0 and answer.stdout.strip() == "1", answer
    short = _cli(project, env, "ssh", "--", "id", "-un")
    assert short.returncode == 0 and short.stdout.strip() == user, short
    user_config = (Path(env["HOME"]) / ".ssh" / "config").read_text()
    assert f'Include "{config}"' in user_config and "Host mine\n  HostName 192.0.2.1\n" in user_config

    listed = [_cli(project, env, "exec", "--", "ssh-add", "-l").stdout,
              _cli(project, env, "shell", input_text="ssh-add -l\n").stdout,
              subprocess.run([*login, "ssh-add -l"], capture_output=True, text=True, timeout=60,
                             env={**os.environ, **env}).stdout]
    assert all(env["fingerprint"] in text for text in listed), listed

    _cli(project, env, "down", check=True)
    assert alias not in config.read_text()
    assert not list((project / ".envtrack").rglob("ssh-agent-*.sock"))   # the relays' sockets went with them


def test_a_remote_engines_dev_environment_is_reached_through_the_engine_host(scratch_project: Path, ssh_home: dict,
                                                                              peer_engine) -> None:
    """Over tcp:// the SSH server is published on the engine host, and the entry jumps through it.

    Here the engine host is this machine, which runs no sshd of its own: the test connects with
    the jump turned off, so what it shows is the server, the key and the published port of a
    container on a remote Engine (the route itself is tests/unit/test_dev_env.py's)."""
    project = scratch_project
    env = {**ssh_home, **peer_engine.env("tcp")}
    (project / "build.envd").write_text(f"def build():\n    {BASES['bookworm']}\n")
    try:
        _cli(project, env, "up", "--progress", "quiet", check=True)
        config = Path(env["HOME"]) / ".config" / "envtrack" / "ssh_config"
        alias = names_of(project).host_alias
        assert f"Host {alias}\n" in config.read_text() and "  ProxyJump 127.0.0.1\n" in config.read_text()
        answer = subprocess.run(["ssh", "-F", str(config), "-o", "BatchMode=yes", "-o", "ProxyJump=none", alias,
                                 "python -c 'print(1)'; ssh-add -l"], capture_output=True, text=True, timeout=60,
                                env={**os.environ, **ssh_home})
        assert answer.returncode == 0 and answer.stdout.split("\n")[0] == "1", answer
        assert ssh_home["fingerprint"] in answer.stdout   # ForwardAgent: the agent over SSH
    finally:
        _cli(project, env, "down")
        client = peer_engine.client()
        for image in client.images.list(name=names_of(project).image_repo):
            client.images.remove(image.id, force=True)
    assert alias not in config.read_text()
