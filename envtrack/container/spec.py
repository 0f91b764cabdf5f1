"""What the project's container must look like: pure, no I/O.

`container_spec` turns a project, its image and its plan into mounts, environment, ports
and labels; the fingerprint, stored as a label, tells `up` whether an existing container
still matches or must be recreated.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envtrack.agent.layout import AGENT_LOG, AGENT_MOUNT, STATE_MOUNT, WORKSPACE
from envtrack.hostca import CA_ENV_NAMES
from envtrack.project import Project

# A path of its own: installing Debian's ca-certificates in the container rewrites the default bundle.
CA_MOUNT = "/etc/envtrack/runtime-ca.pem"
FINGERPRINT_LABEL = "envtrack.container.fingerprint"

# The container's own python3 runs the agent from the bundle; the system interpreter first,
# because a venv's python may be replaced or removed by the user.
AGENT_SHELL = (
    'for p in /usr/bin/python3 /usr/local/bin/python3 "$(command -v python3)"; do '
    '[ -x "$p" ] && exec env PYTHONPATH={bundle} "$p" -s -m envtrack.agent --state {state} >>{log} 2>&1; '
    'done; echo "envtrack-agent: no python3 in the container" >>{log}; exit 127'
)


@dataclass(frozen=True)
class Mount:
    host: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class PortMapping:
    container_port: str   # "8888/tcp"
    host_ip: str
    host_port: int


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    image_id: str
    mounts: tuple[Mount, ...]
    environment: tuple[tuple[str, str], ...]
    ports: tuple[PortMapping, ...]
    labels: tuple[tuple[str, str], ...] = field(default=())

    def fingerprint(self) -> str:
        payload = json.dumps({"image_id": self.image_id, "mounts": [m.__dict__ for m in self.mounts],
                              "env": self.environment, "ports": [p.__dict__ for p in self.ports]},
                             sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def run_kwargs(self) -> dict[str, Any]:
        """Arguments for the docker SDK's containers.create."""
        return {
            "image": self.image,
            "name": self.name,
            "command": ["sleep", "infinity"],
            "init": True,  # docker's init reaps the agent's and the user's orphans
            "detach": True,
            "working_dir": WORKSPACE,
            "volumes": {m.host: {"bind": m.target, "mode": "ro" if m.read_only else "rw"} for m in self.mounts},
            "environment": dict(self.environment),
            "ports": {p.container_port: (p.host_ip, p.host_port) for p in self.ports},
            "labels": dict(self.labels) | {FINGERPRINT_LABEL: self.fingerprint()},
        }


def exposed_ports(steps) -> tuple[PortMapping, ...]:
    """runtime.expose steps; no host_port means the same port number on the host."""
    ports = []
    for step in steps:
        if step.kind == "runtime.expose":
            port = int(step.args["envd_port"])
            ports.append(PortMapping(f"{port}/tcp", step.args.get("listen_addr") or "127.0.0.1",
                                     int(step.args.get("host_port") or port)))
    return tuple(ports)


def container_spec(project: Project, image: str, image_id: str, steps, *, bundle_dir: Path,
                   host_ca: str | None) -> ContainerSpec:
    mounts = [Mount(str(project.dir), WORKSPACE), Mount(str(project.state_dir), STATE_MOUNT),
              Mount(str(bundle_dir), AGENT_MOUNT, read_only=True)]
    environment: list[tuple[str, str]] = []
    if host_ca:
        mounts.append(Mount(host_ca, CA_MOUNT, read_only=True))
        environment += [(name, CA_MOUNT) for name in CA_ENV_NAMES]
    return ContainerSpec(project.container_name, image, image_id, tuple(mounts), tuple(environment),
                         exposed_ports(steps), labels=(("envtrack.project", project.name),))


def agent_command() -> list[str]:
    script = AGENT_SHELL.format(bundle=AGENT_MOUNT, state=STATE_MOUNT, log=f"{STATE_MOUNT}/{AGENT_LOG}")
    return ["sh", "-c", script]
