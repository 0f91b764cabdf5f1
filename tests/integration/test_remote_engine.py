"""envtrack against Engines it can only reach over the network, the way docker is pointed
at them (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH):

- peer-tls: the second Engine (Debian 13's dockerd 26, scripts/setup-peer-engine.sh) on
  tcp://127.0.0.1 with --tlsverify and the script's certificates;
- peer-ssh: the same Engine through ssh://root@127.0.0.1:PORT (the script's private sshd,
  its own key), the system ssh client running `docker system dial-stdio`;
- front-tls: the system Engine behind a TLS port whose certificates this test makes
  (tests/support/tls_front.py), so a wrong client certificate can be seen refused.

envtrack sees only a network address, so it takes the remote paths: state in a volume on the
engine host, workspace/agent/CA copied in, the journal fetched through the API. The lock
compared at the end comes from the local Engine. Each target runs the tests in a user's order.
Last, `--builder tcp://` with TLS: BuildKit's gRPC served straight over TLS, as buildkitd does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import BASE_IMAGE, names_of, run_cli
from support.tls_front import TlsFront, make_certificates

ENGINE_SOCKET = "/var/run/docker.sock"
ISOLATED = {"DOCKER_CONTEXT": "", "ENVTRACK_CONTEXT": "", "ENVTRACK_BUILDKIT_HOST": "", "DOCKER_TLS_VERIFY": "",
            "DOCKER_CERT_PATH": "", "DOCKER_TLS": ""}
BUILD_ENVD = f"""\
def build():
    base(image="{BASE_IMAGE}", dev=True)
    install.python()
    io.copy(host_path="conf", envd_path="/etc/remotetest")
"""


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("tls"))


@dataclass
class Target:
    env: dict            # what points envtrack at the remote Engine
    address: str         # how envtrack names it
    engine: object       # a docker SDK client for the same Engine, for the test's own checks
    front: TlsFront | None = None


@pytest.fixture(scope="module", params=["peer-tls", "peer-ssh", "front-tls"])
def remote(request, docker_client, certificates, tmp_path_factory, peer_engine):
    config = {"XDG_CONFIG_HOME": str(tmp_path_factory.mktemp("config")), **ISOLATED}
    if request.param == "front-tls":
        with TlsFront(ENGINE_SOCKET, certificates) as front:
            yield Target({**config, "DOCKER_HOST": front.address, "DOCKER_TLS_VERIFY": "1",
                          "DOCKER_CERT_PATH": str(certificates.client_dir)}, front.address, docker_client, front)
        return
    transport = request.param.split("-")[1].replace("tls", "tcp")
    env = peer_engine.env(transport)
    yield Target({**config, **env}, env["DOCKER_HOST"], peer_engine.client())


@pytest.fixture(scope="module")
def project(remote, docker_client, tmp_path_factory):
    path = tmp_path_factory.mktemp("remote") / f"remote-it-{uuid.uuid4().hex[:6]}"
    path.mkdir()
    # A step of its own, so that no other transport's run (or an earlier session) on the same
    # Engine holds this project's later steps in BuildKit's cache: the rebuild test needs a cold one.
    (path / "build.envd").write_text(BUILD_ENVD + f'    run(commands=["echo {path.name} > /etc/remotetest-id"])\n')
    (path / "marker.txt").write_text("from the laptop\n")
    (path / "conf").mkdir()
    (path / "conf" / "settings.ini").write_text("copied at build time\n")   # io.copy: a host path
    try:
        yield path
    finally:
        run_cli("down", cwd=path, env=remote.env)
        for engine in {id(remote.engine): remote.engine, id(docker_client): docker_client}.values():
            for image in engine.images.list(name=names_of(path).image_repo):
                engine.images.remove(image.id, force=True)
            for volume in engine.volumes.list(filters={"name": names_of(path).volume}):
                volume.remove(force=True)


def cli(remote: Target, *args: str, cwd: Path, check: bool = True):
    return run_cli(*args, cwd=cwd, env=remote.env, check=check)


def test_doctor_checks_the_remote_engine_and_its_buildkit(remote: Target) -> None:
    proc = run_cli("doctor", "--json", env=remote.env)
    checks = {c["name"]: c for c in json.loads(proc.stdout)}
    assert proc.returncode == 0, checks
    tls = " with TLS" if remote.env["DOCKER_TLS_VERIFY"] else ""
    assert checks["engine"]["detail"].endswith(f"at {remote.address}{tls}, from DOCKER_HOST")
    assert remote.address in checks["buildkit"]["detail"]


def test_a_wrong_client_certificate_or_key_is_refused_in_one_line(remote: Target, tmp_path) -> None:
    if remote.front is not None:   # no cert.pem, no CA: the handshake must fail at the server
        env, refused = dict(remote.env, DOCKER_CERT_PATH=str(tmp_path)), remote.front.refused
    elif remote.env["DOCKER_TLS_VERIFY"]:   # the test's own CA and client: dockerd must not trust them
        env, refused = dict(remote.env, DOCKER_CERT_PATH=str(make_certificates(tmp_path).client_dir)), None
    else:   # ssh as a user the peer's sshd lets nobody log in as (BatchMode: no password prompt)
        env, refused = dict(remote.env, DOCKER_HOST=remote.address.replace("root@", "nobody@"),
                            SSH_AUTH_SOCK=""), None
    proc = run_cli("doctor", env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    assert proc.stdout.startswith("FAIL engine          no answer at "), proc.stdout
    if refused is not None:
        assert remote.front.refused > refused


def test_a_lock_from_the_local_engine(project: Path, docker_client) -> None:
    """Before going remote: the same project up on the local socket, locked, then down."""
    local = {**ISOLATED, "DOCKER_HOST": ""}
    run_cli("up", "--progress", "quiet", cwd=project, env=local, check=True)
    run_cli("snapshot", "-o", str(project / "local.lock"), cwd=project, env=local, check=True)
    run_cli("down", cwd=project, env=local, check=True)
    assert (project / "local.lock").is_file()


def test_up_copies_the_workspace_agent_and_ca_and_keeps_state_in_a_volume(remote: Target, project: Path) -> None:
    out = cli(remote, "up", "--progress", "quiet", cwd=project).stdout
    assert out.startswith("created ")
    container = remote.engine.containers.get(names_of(project).container)
    assert [m["Type"] for m in container.attrs["Mounts"]] == ["volume"]   # nothing bind-mounted from here
    assert container.attrs["Mounts"][0]["Name"] == names_of(project).volume
    shown = cli(remote, "exec", "--", "sh", "-c", 'cat marker.txt; test -s "$PIP_CERT" && echo ca; '
                "test -e .envtrack || echo no-local-state; cat /etc/remotetest/settings.ini", cwd=project).stdout
    assert shown.splitlines() == ["from the laptop", "ca", "no-local-state", "copied at build time"]


def test_shell_runs_the_docker_cli_against_the_same_engine(remote: Target, project: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "envtrack", "shell"], cwd=project, input="cat marker.txt; exit 4\n",
                          env=dict(os.environ, **remote.env), capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stdout) == (4, "from the laptop\n"), proc.stderr
    info = json.loads(cli(remote, "status", "--json", cwd=project).stdout)
    assert (info["state"], info["agent"]) == ("running", "healthy"), info
    assert info["journal_home"] == f"volume {names_of(project).volume} on {remote.address}"


def wait_for_changes(remote, project: Path, count: int) -> list[dict]:
    deadline = time.monotonic() + 30
    while True:
        rows = json.loads(cli(remote, "log", "--json", cwd=project).stdout)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


def test_runtime_pip_and_apt_installs_are_journaled_on_the_engine_host(remote, project: Path) -> None:
    cli(remote, "exec", "--", "sh", "-c", "python3 -m pip install -q six==1.16.0 && "
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null", cwd=project)
    rows = wait_for_changes(remote, project, 2)
    assert {(r["manager"], r["name"], r["action"]) for r in rows if r["requested"]} >= {
        ("pip", "six", "install"), ("apt", "jq", "install")}, rows
    assert (project / ".envtrack" / "journal.db").is_file()   # the fetched copy


def test_sync_writes_back_and_keeps_its_bookmark_across_fetches(remote, project: Path) -> None:
    first = cli(remote, "sync", "--yes", cwd=project)
    text = (project / "build.envd").read_text()
    assert "six==1.16.0" in text and '"jq=' in text, first.stdout
    again = cli(remote, "sync", "--yes", cwd=project)
    assert "up to date" in again.stdout and (project / "build.envd").read_text() == text


def test_rebuild_on_the_remote_buildkit_and_up_recreates(remote: Target, project: Path) -> None:
    built = json.loads(cli(remote, "build", "--progress", "quiet", "--json", cwd=project).stdout)
    assert not built["cached"]
    out = cli(remote, "up", "--progress", "quiet", cwd=project).stdout
    assert out.startswith("recreated ")
    shown = cli(remote, "exec", "--", "sh", "-c", "python3 -c 'import six; print(six.__version__)'; jq --version",
                cwd=project).stdout.split()
    assert shown[0] == "1.16.0" and shown[1].startswith("jq-")


def test_snapshot_on_the_remote_engine_and_diff_against_the_local_lock(remote, project: Path) -> None:
    cli(remote, "snapshot", "-o", str(project / "remote.lock"), cwd=project)
    proc = cli(remote, "diff", "--json", str(project / "local.lock"), str(project / "remote.lock"),
               cwd=project, check=False)
    assert proc.returncode == 1, proc.stderr   # like diff(1): 1 means they differ
    names = json.dumps(json.loads(proc.stdout))
    assert '"six"' in names and '"jq"' in names, names
    assert cli(remote, "snapshot", "--check", "-o", str(project / "remote.lock"), cwd=project).returncode == 0


def test_log_and_status_after_down_read_the_volume(remote, project: Path) -> None:
    before = json.loads(cli(remote, "log", "--json", cwd=project).stdout)
    (project / ".envtrack" / "journal.db").unlink()   # only the engine host has it now
    cli(remote, "down", cwd=project)
    after = json.loads(cli(remote, "log", "--json", cwd=project).stdout)
    assert [r["id"] for r in after] == [r["id"] for r in before] and after
    info = json.loads(cli(remote, "status", "--json", cwd=project).stdout)
    assert info["state"] == "absent" and info["changes"]["total"] == len(after)


def test_a_standalone_builder_on_tcp_with_tls(docker_client, certificates, tmp_path) -> None:
    """`--builder tcp://` with TLS files: BuildKit's gRPC straight over TLS, as buildkitd serves it."""
    marker = uuid.uuid4().hex
    project = tmp_path / f"builder-it-{marker[:6]}"
    project.mkdir()
    (project / "build.envd").write_text(f'def build():\n    base(image="{BASE_IMAGE}")\n'
                                        f'    run(commands=["echo {marker} > /built.txt"])\n')
    client = certificates.client_dir
    env = {"ENVTRACK_BUILDKIT_TLS_CA": str(client / "ca.pem"), "ENVTRACK_BUILDKIT_TLS_CERT": str(client / "cert.pem"),
           "ENVTRACK_BUILDKIT_TLS_KEY": str(client / "key.pem"), "DOCKER_HOST": "", "ENVTRACK_BUILDKIT_HOST": ""}
    with TlsFront(ENGINE_SOCKET, certificates, grpc=True) as buildkitd:
        try:
            proc = run_cli("build", "--builder", buildkitd.address, "--progress", "plain", "--json",
                           cwd=project, env=env, check=True)
            image = json.loads(proc.stdout)["image"]
            out = docker_client.containers.run(image, ["cat", "/built.txt"], remove=True)
            assert out.decode().strip() == marker
            (project / "build.envd").write_text((project / "build.envd").read_text().replace(marker, "other"))
            no_tls = run_cli("build", "--builder", buildkitd.address, cwd=project,
                             env=dict(env, ENVTRACK_BUILDKIT_TLS_CA="", ENVTRACK_BUILDKIT_TLS_CERT="",
                                      ENVTRACK_BUILDKIT_TLS_KEY=""))
            assert no_tls.returncode == 1 and "Traceback" not in no_tls.stderr
        finally:
            for found in docker_client.images.list(name=names_of(project).image_repo):
                docker_client.images.remove(found.id, force=True)


def test_a_standalone_builder_on_a_unix_socket(docker_client, tmp_path) -> None:
    """`--builder unix://`: plain gRPC on a socket, as buildkitd's default address serves it."""
    marker = uuid.uuid4().hex
    project = tmp_path / f"builder-unix-{marker[:6]}"
    project.mkdir()
    (project / "build.envd").write_text(f'def build():\n    base(image="{BASE_IMAGE}")\n'
                                        f'    run(commands=["echo {marker} > /built.txt"])\n')
    with TlsFront(ENGINE_SOCKET, None, grpc=True, unix_path=tmp_path / "buildkitd.sock") as buildkitd:
        try:
            proc = run_cli("build", "--builder", buildkitd.address, "--progress", "plain", "--json", cwd=project,
                           env={**ISOLATED, "DOCKER_HOST": ""}, check=True)
            assert "buildkitd.sock" not in proc.stderr or "error" not in proc.stderr.lower()
            out = docker_client.containers.run(json.loads(proc.stdout)["image"], ["cat", "/built.txt"], remove=True)
            assert out.decode().strip() == marker
        finally:
            for found in docker_client.images.list(name=names_of(project).image_repo):
                docker_client.images.remove(found.id, force=True)
