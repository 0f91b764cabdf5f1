"""The project's container and its agent, seen from the host (`envtrack up`, `status`, ...).

Pure part: `container_spec` turns a project, its image and its plan into what the container
must look like (mounts, environment, ports, labels); its fingerprint, stored as a label,
tells `up` whether an existing container still matches or must be recreated.
I/O part: create/start the container with the docker SDK, start the agent with
`docker exec -d`, and judge the agent's health from its heartbeat file and /proc.
Host-side only (not imported by the agent).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from envtrack.agent.layout import AGENT_LOG, AGENT_MOUNT, HEARTBEAT_SECONDS, STATE_MOUNT, STATUS_FILE, WORKSPACE
from envtrack.errors import EnvtrackError
from envtrack.hostca import CA_ENV_NAMES, host_ca_path
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


# --------------------------------------------------------------------------- I/O


def find_container(client, name: str):
    import docker

    try:
        return client.containers.get(name)
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as error:
        raise EnvtrackError(f"cannot inspect container {name}: {error.explanation or error}") from None


def ensure_container(client, spec: ContainerSpec) -> tuple[Any, str]:
    """The running container for SPEC and what it took: running | started | created | recreated."""
    import docker

    existing = find_container(client, spec.name)
    action = "created"
    if existing is not None:
        if existing.labels.get(FINGERPRINT_LABEL) == spec.fingerprint():
            if existing.status == "running":
                return existing, "running"
            _call(existing.start, f"cannot start container {spec.name}")
            existing.reload()
            return existing, "started"
        _call(lambda: existing.remove(force=True), f"cannot remove the outdated container {spec.name}")
        action = "recreated"
    try:
        container = client.containers.create(**spec.run_kwargs())
        container.start()
    except docker.errors.APIError as error:
        raise EnvtrackError(f"cannot start container {spec.name}: {error.explanation or error}") from None
    container.reload()
    return container, action


def _call(function, message: str) -> None:
    import docker

    try:
        function()
    except docker.errors.APIError as error:
        raise EnvtrackError(f"{message}: {error.explanation or error}") from None


@dataclass(frozen=True)
class AgentHealth:
    running: bool
    pid: int | None
    started: str | None
    heartbeat: str | None
    heartbeat_age: float | None   # seconds

    @property
    def healthy(self) -> bool:
        return self.running and self.heartbeat_age is not None and self.heartbeat_age < 3 * HEARTBEAT_SECONDS  # stale after a few missed beats

    def to_json(self) -> dict:
        return {"running": self.running, "healthy": self.healthy, "pid": self.pid, "started": self.started,
                "heartbeat": self.heartbeat,
                "heartbeat_age_seconds": None if self.heartbeat_age is None else round(self.heartbeat_age, 1)}


def read_status_file(project: Project) -> dict:
    try:
        return json.loads((project.state_dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _age(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return max(0.0, (datetime.now(timezone.utc) - when).total_seconds())


def agent_health(project: Project, container) -> AgentHealth:
    """Alive means: this container's agent pid runs envtrack.agent (pids get reused)."""
    status = read_status_file(project)
    pid = status.get("pid") if isinstance(status.get("pid"), int) else None
    running = False
    if container is not None and container.status == "running" and pid and \
            str(status.get("container", "")) in (container.id[:12], container.attrs["Config"].get("Hostname")):
        code, output = container.exec_run(["cat", f"/proc/{pid}/cmdline"], demux=False)
        running = code == 0 and b"envtrack.agent" in (output or b"")
    return AgentHealth(running, pid, status.get("started"), status.get("heartbeat"), _age(status.get("heartbeat")))


def ensure_agent(project: Project, container, timeout: float = 60.0) -> tuple[AgentHealth, bool]:
    """Start the agent unless it already runs; wait until it has taken its baseline.

    Returns (health, started). The agent holds a lock, so a second copy would exit at once.
    """
    health = agent_health(project, container)
    if health.running:
        return health, False
    since = _utc_stamp()
    container.exec_run(agent_command(), detach=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = read_status_file(project)
        if (status.get("heartbeat") or "") >= since:
            health = agent_health(project, container)
            if health.running:
                return health, True
        time.sleep(0.1)
    raise EnvtrackError(f"the agent did not start in {project.container_name} within {timeout:.0f} s: "
                        f"{_log_tail(project)}", hint=f"see {project.state_dir / AGENT_LOG}")


def _utc_stamp() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (now.microsecond // 1000)


def _log_tail(project: Project) -> str:
    try:
        lines = (project.state_dir / AGENT_LOG).read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no agent log"
    return lines[-1] if lines else "empty agent log"


def host_ca_bundle() -> str | None:
    path = host_ca_path()
    return path if os.path.isfile(path) else None


# --------------------------------------------------------------------------- what cli/env.py calls


@dataclass(frozen=True)
class UpOutcome:
    container: Any
    verb: str        # "created" | "recreated" | "started" | "reused"


def _client():
    from envtrack.engine.docker import docker_client

    return docker_client()


def _plan_steps(project: Project):
    from envtrack.frontend import load_plan

    return load_plan(str(project.envd_file)).steps


def ensure_running(project: Project, image: str, *, host_ca: bool = True) -> UpOutcome:
    """Start or reuse the project's container for IMAGE; a different image or config recreates it."""
    import docker

    from envtrack.container.bundle import prepare_bundle

    client = _client()
    try:
        image_id = client.images.get(image).id
    except docker.errors.ImageNotFound:
        raise EnvtrackError(f"image {image} is not in the Engine's image store", hint="run `envtrack build`") from None
    project.state_dir.mkdir(parents=True, exist_ok=True)
    spec = container_spec(project, image, image_id, _plan_steps(project), bundle_dir=prepare_bundle(),
                          host_ca=host_ca_bundle() if host_ca else None)
    container, action = ensure_container(client, spec)
    return UpOutcome(container, "reused" if action == "running" else action)


def start_agent(project: Project, container) -> str:
    """Start the agent unless it runs; a short description for the user."""
    health, started = ensure_agent(project, container)
    return f"{'started' if started else 'running'} (pid {health.pid})"


def require_running(project: Project):
    container = find_container(_client(), project.container_name)
    if container is None or container.status != "running":
        raise EnvtrackError(f"{project.container_name} is not running", hint="start it with `envtrack up`")
    return container


def remove(project: Project) -> bool:
    container = find_container(_client(), project.container_name)
    if container is None:
        return False
    _call(lambda: container.remove(force=True), f"cannot remove {project.container_name}")
    return True


def exec_capture(project: Project, command: list[str]) -> tuple[int, bytes]:
    container = require_running(project)
    code, output = container.exec_run(command, demux=False)
    return code, output or b""


def exec_stream(name: str, command: list[str]) -> int:
    """Run COMMAND in container NAME, streaming its output here; its exit code."""
    import sys

    client = _client()
    try:
        exec_id = client.api.exec_create(name, command, workdir=WORKSPACE)["Id"]
        for out, err in client.api.exec_start(exec_id, stream=True, demux=True):
            if out:
                sys.stdout.buffer.write(out)
                sys.stdout.flush()
            if err:
                sys.stderr.buffer.write(err)
                sys.stderr.flush()
        code = client.api.exec_inspect(exec_id).get("ExitCode")
    except Exception as error:  # noqa: BLE001 - docker's errors become one line
        raise EnvtrackError(f"cannot run {command[0]} in {name}: {error}") from None
    return 0 if code is None else int(code)


def change_counts(project: Project) -> dict:
    counts = {"total": 0, "requested": 0, "reconciled": 0}
    if not project.journal_path.exists():
        return counts
    import sqlite3

    with sqlite3.connect(f"file:{project.journal_path}?mode=ro", uri=True) as db:
        try:
            row = db.execute("SELECT COUNT(*), COALESCE(SUM(requested), 0), COALESCE(SUM(reconciled), 0) "
                             "FROM changes").fetchone()
        except sqlite3.OperationalError:
            return counts
    return {"total": row[0], "requested": row[1], "reconciled": row[2]}


def status(project: Project) -> dict:
    container = find_container(_client(), project.container_name)
    health = agent_health(project, container)
    agent = "healthy" if health.healthy else ("running, no recent heartbeat" if health.running else "not running")
    return {
        "project": project.name,
        "container": project.container_name,
        "state": container.status if container is not None else "absent",
        "image": (container.attrs["Config"].get("Image") if container is not None else None),
        "agent": agent,
        "agent_detail": health.to_json(),
        "changes": change_counts(project),
        "journal": str(project.journal_path),
    }
