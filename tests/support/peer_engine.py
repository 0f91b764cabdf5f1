"""The peer Engine (scripts/setup-peer-engine.sh) for integration tests.

A second, newer Docker Engine (Debian 13's dockerd 26, BuildKit v0.13 with MergeOp/DiffOp)
beside the system Engine, reachable on a Unix socket, on loopback TCP with TLS and through
ssh://. `ensure_peer()` runs the idempotent script (it starts the peer on a fresh machine,
takes well under 2 s when the peer already answers) and describes the result.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "setup-peer-engine.sh"
FIRST_START_TIMEOUT = 600  # a fresh machine downloads one .deb and installs sshd


class PeerEngineError(Exception):
    """The peer could not be started; the message carries the script's last lines."""


@dataclass(frozen=True)
class PeerEngine:
    unix_host: str   # unix:///run/envtrack-peer/<instance>/docker.sock
    tcp_host: str    # tcp://127.0.0.1:<port>; needs TLS with the certificates in cert_dir
    cert_dir: str    # DOCKER_CERT_PATH: ca.pem cert.pem key.pem
    ssh_host: str    # ssh://root@127.0.0.1:<port>; ssh reads the Host entry the script includes

    @property
    def unix_socket(self) -> str:
        return self.unix_host[len("unix://"):]

    def env(self, transport: str = "unix") -> dict[str, str]:
        """Variables that point a docker client (CLI or `docker.from_env`) at the peer."""
        if transport == "unix":
            return {"DOCKER_HOST": self.unix_host}
        if transport == "tcp":
            return {"DOCKER_HOST": self.tcp_host, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": self.cert_dir}
        if transport == "ssh":
            return {"DOCKER_HOST": self.ssh_host}
        raise ValueError(f"transport {transport!r}: unix, tcp or ssh")

    def client(self, transport: str = "unix"):
        """A docker SDK client for the unix or tcp transport (the SDK's ssh:// needs paramiko)."""
        import docker

        return docker.from_env(environment=self.env(transport), timeout=300)


def parse_env(text: str) -> dict[str, str]:
    """The KEY=VALUE lines the script prints (comments and blank lines aside)."""
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def ensure_peer(environ: dict[str, str] | None = None) -> PeerEngine:
    """Start the peer Engine unless it already answers; raise PeerEngineError when it cannot."""
    env = dict(os.environ if environ is None else environ)
    try:
        proc = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True,
                              timeout=FIRST_START_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as error:
        raise PeerEngineError(f"{SCRIPT.name} did not finish within {error.timeout} s") from None
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise PeerEngineError(f"{SCRIPT.name} exited {proc.returncode}:\n{tail}")
    values = parse_env(proc.stdout)
    return PeerEngine(unix_host=values["ENVTRACK_PEER_UNIX"], tcp_host=values["ENVTRACK_PEER_TCP"],
                      cert_dir=values["DOCKER_CERT_PATH"], ssh_host=values["ENVTRACK_PEER_SSH"])


# A second peer instance on the containerd image store: the only Engine setup whose BuildKit
# enables the "mergeop"/"diffop" caps (the default peer refuses definitions that declare them).
MERGEOP_INSTANCE = {
    "ENVTRACK_PEER_INSTANCE": "mergeop",
    "ENVTRACK_PEER_TCP_PORT": "23761",
    "ENVTRACK_PEER_SSH_PORT": "23723",
    "ENVTRACK_PEER_SUBNET": "10.217.0.0/24",
    "ENVTRACK_PEER_CONTAINERD_STORE": "1",
    "ENVTRACK_PEER_SSH_CONFIG": "/var/lib/envtrack-peer/mergeop-ssh-config",
}


def ensure_mergeop_peer() -> PeerEngine:
    """The peer Engine on the containerd image store, started unless it already answers."""
    return ensure_peer({**os.environ, **MERGEOP_INSTANCE})


# A peer instance whose Docker Hub is a loopback registry (tests/support/registry.py's
# ensure_hub_mirror), so that unqualified references (`ubuntu:22.04`) resolve as on a user's machine.
HUB_INSTANCE = {
    "ENVTRACK_PEER_INSTANCE": "hub",
    "ENVTRACK_PEER_TCP_PORT": "23762",
    "ENVTRACK_PEER_SSH_PORT": "23724",
    "ENVTRACK_PEER_SUBNET": "10.219.0.0/24",
    "ENVTRACK_PEER_SSH_CONFIG": "/var/lib/envtrack-peer/hub-ssh-config",
}


def ensure_hub_peer(mirror_url: str) -> PeerEngine:
    """The peer Engine `hub`, started with `--registry-mirror MIRROR_URL` unless it already answers;
    a running one configured with another mirror is an error (restarting it is the caller's choice)."""
    import json

    peer = ensure_peer({**os.environ, **HUB_INSTANCE, "ENVTRACK_PEER_REGISTRY_MIRROR": mirror_url})
    proc = subprocess.run(["docker", "info", "--format", "{{json .RegistryConfig.Mirrors}}"],
                          env={**os.environ, **peer.env(), "DOCKER_CONTEXT": ""}, capture_output=True, text=True)
    mirrors = json.loads(proc.stdout or "null") or []
    if mirror_url.rstrip("/") + "/" not in [m.rstrip("/") + "/" for m in mirrors]:
        raise PeerEngineError(f"the running hub Engine's mirrors are {mirrors}, not {mirror_url}; "
                              f"stop it (ENVTRACK_PEER_INSTANCE=hub {SCRIPT} --stop) and rerun")
    return peer
