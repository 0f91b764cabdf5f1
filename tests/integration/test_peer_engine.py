"""The peer Engine answers on every transport, has BuildKit's MergeOp, and networks its
containers without disturbing the system Engine's network."""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import subprocess
from pathlib import Path

import grpc
import pytest

from envtrack.buildkit.client import BuildKit, SolveFailure
from envtrack.buildkit.relay import EngineRelay
from envtrack.container.spec import CA_MOUNT
from envtrack.endpoints import DEFAULT_SOCKET as SYSTEM_SOCKET, EngineEndpoint
from envtrack.hostca import host_ca_path
from envtrack.pb import ops_pb2

BASE = "docker.io/envtrack/base:bookworm"
MERGED_TAG = "envtrack-test-peer/merged:latest"


def docker_cli(env: dict[str, str], *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    return subprocess.run(["docker", *args], env={**clean, **env}, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("transport", ["unix", "tcp", "ssh"])
def test_peer_answers_with_engine_26_or_newer(peer_engine, transport):
    proc = docker_cli(peer_engine.env(transport), "version", "--format", "{{.Server.Version}}")
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.strip().split(".")[0]) >= 26, proc.stdout


def test_peer_tcp_refuses_plain_http(peer_engine):
    proc = docker_cli({"DOCKER_HOST": peer_engine.tcp_host}, "version", "--format", "{{.Server.Version}}")
    assert proc.returncode != 0
    assert "26." not in proc.stdout


def test_peer_tcp_refuses_tls_without_client_certificate(peer_engine):
    host, port = peer_engine.tcp_host[len("tcp://"):].rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(Path(peer_engine.cert_dir) / "ca.pem"))
    answer = b""
    with pytest.raises((ssl.SSLError, ConnectionError)):
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                tls.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
                answer = tls.recv(4096)  # TLS 1.3 reports the missing certificate here
                if not answer:
                    raise ConnectionError("closed without an answer")
    assert b"OK" not in answer


def _op(op: ops_pb2.Op) -> bytes:
    return op.SerializeToString(deterministic=True)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _merge_op(inputs: list[str]) -> bytes:
    """An Op with inputs and MergeOp (Op field 6: MergeOp{1: repeated MergeInput{1: input}}),
    encoded by hand because the committed ops.proto predates MergeOp."""
    head = _op(ops_pb2.Op(inputs=[ops_pb2.Input(digest=d, index=0) for d in inputs]))
    merge_inputs = b"".join(b"\x0a\x02\x08" + bytes([i]) for i in range(len(inputs)))
    return head + b"\x32" + bytes([len(merge_inputs)]) + merge_inputs


def merge_definition() -> bytes:
    """BASE plus /a, BASE plus /b, merged: the result has both files."""
    source = _op(ops_pb2.Op(source=ops_pb2.SourceOp(identifier=f"docker-image://{BASE}")))
    layers = []
    for name in ("a", "b"):
        action = ops_pb2.FileAction(input=0, secondaryInput=-1, output=0, mkfile=ops_pb2.FileActionMkFile(
            path=f"/{name}", mode=0o644, data=name.encode(), timestamp=-1))
        layers.append(_op(ops_pb2.Op(inputs=[ops_pb2.Input(digest=_digest(source), index=0)],
                                     file=ops_pb2.FileOp(actions=[action]))))
    merged = _merge_op([_digest(layer) for layer in layers])
    final = _op(ops_pb2.Op(inputs=[ops_pb2.Input(digest=_digest(merged), index=0)]))
    return ops_pb2.Definition(**{"def": [source, *layers, merged, final]}).SerializeToString()


def solve_on(engine_socket: str, definition: bytes) -> dict[str, str]:
    with EngineRelay(EngineEndpoint(f"unix://{engine_socket}")) as relay, \
            grpc.insecure_channel(relay.address) as channel:
        return BuildKit(channel, engine_socket).solve(
            definition, exporter="moby", exporter_attrs={"name": MERGED_TAG}, on_status=lambda _: None)


def test_peer_buildkit_solves_mergeop_that_the_system_engine_cannot(peer_engine):
    definition = merge_definition()
    solve_on(peer_engine.unix_socket, definition)
    proc = docker_cli(peer_engine.env(), "run", "--rm", MERGED_TAG, "cat", "/a", "/b", "/etc/debian_version")
    docker_cli(peer_engine.env(), "image", "rm", MERGED_TAG)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ab"), proc.stdout
    # The system Engine's BuildKit v0.8 has no MergeOp: the same definition is refused there,
    # so the solve above proves the peer's capability, not a lenient parser.
    with pytest.raises(SolveFailure):
        solve_on(SYSTEM_SOCKET, definition)


def apt_update(env: dict[str, str], name: str) -> subprocess.CompletedProcess:
    return docker_cli(env, "run", "--rm", "--name", name,
                      "-v", f"{host_ca_path()}:{CA_MOUNT}:ro", "-e", f"SSL_CERT_FILE={CA_MOUNT}",
                      BASE.removeprefix("docker.io/"), "apt-get", "update", "-q")


def test_peer_containers_reach_the_network_and_the_system_engine_keeps_its_own(peer_engine):
    peer = apt_update(peer_engine.env(), "envtrack-test-peer-net")
    assert peer.returncode == 0 and "Reading package lists" in peer.stdout, peer.stdout + peer.stderr
    system = apt_update({"DOCKER_HOST": f"unix://{SYSTEM_SOCKET}"}, "envtrack-test-peer-sysnet")
    assert system.returncode == 0 and "Reading package lists" in system.stdout, system.stdout + system.stderr
    docker0 = subprocess.run(["ip", "-4", "addr", "show", "dev", "docker0"], capture_output=True, text=True)
    assert docker0.returncode == 0 and "inet " in docker0.stdout, docker0.stderr


def test_a_restarted_peer_leaves_the_system_bridge_alone(peer_engine):
    """A second start of a peer finds its own stale default network in its data root; with an
    address pool configured, dockerd clears that network together with the host's docker0 (an
    earlier version of the script did, and every later system container lost its network)."""
    from support.peer_engine import SCRIPT, ensure_peer

    stop = subprocess.run(["bash", str(SCRIPT), "--stop"], capture_output=True, text=True, timeout=120)
    assert stop.returncode == 0, stop.stderr
    assert ensure_peer() == peer_engine
    docker0 = subprocess.run(["ip", "-4", "addr", "show", "dev", "docker0"], capture_output=True, text=True)
    assert docker0.returncode == 0 and "inet " in docker0.stdout, docker0.stderr
    system = apt_update({"DOCKER_HOST": f"unix://{SYSTEM_SOCKET}"}, "envtrack-test-peer-restart")
    assert system.returncode == 0 and "Reading package lists" in system.stdout, system.stdout + system.stderr
