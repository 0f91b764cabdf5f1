"""The agent seen from the host: is it recording? Judged from its status file and /proc.

`exec` and `log` ask this before every command, so it stays lean (no dataclasses, typing,
threading or the container's spec); starting, stopping and restarting the agent live in
container/supervise.py, which builds on this file and is loaded only when the answer is no.
"""

from __future__ import annotations

import json
from collections import namedtuple
from pathlib import Path

from envtrack.agent.layout import HEARTBEAT_SECONDS, STATUS_FILE
from envtrack.container.engine import ContainerInfo, inspect
from envtrack.endpoints import EngineEndpoint
from envtrack.errors import EnvtrackError
from envtrack.project import Project


class AgentHealth(namedtuple("AgentHealth", "running pid started heartbeat heartbeat_age stopped",
                             defaults=(None,))):
    """What the status file and /proc say (not a dataclass: see envtrack.errors.Position):
    running (bool), pid, started and heartbeat (ISO stamps) and heartbeat_age (seconds), each
    None when unknown; stopped: why nothing is being recorded although the agent may run
    (a full `.envtrack/`), else None."""

    __slots__ = ()

    @property
    def healthy(self) -> bool:
        return self.running and self.heartbeat_age is not None and self.heartbeat_age < 3 * HEARTBEAT_SECONDS  # stale after a few missed beats

    def describe(self) -> str:
        return "not running" if not self.running else f"silent for {self.heartbeat_age or 0:.0f} s"

    def summary(self) -> str:
        """`status`'s word for the agent."""
        if self.stopped:
            return f"recording stopped: {self.stopped}"
        return "healthy" if self.healthy else ("running, no recent heartbeat" if self.running else "not running")

    def to_json(self) -> dict:
        return {"running": self.running, "healthy": self.healthy, "recording_stopped": self.stopped,
                "pid": self.pid, "started": self.started,
                "heartbeat": self.heartbeat,
                "heartbeat_age_seconds": None if self.heartbeat_age is None else round(self.heartbeat_age, 1)}


class AgentCheck(namedtuple("AgentCheck", "warning container health")):
    """The answer to "is the agent recording?": warning, a line for stderr when it is not and
    nothing here can help (None otherwise); container and health, set when a running
    container's agent is dead or silent, so that a restart (container/supervise.py) would."""

    __slots__ = ()

    @property
    def restart_needed(self) -> bool:
        return self.health is not None and not self.health.healthy


def check_agent(project: Project) -> AgentCheck:
    """Judge the project's agent without acting on it (acting is supervise.restart_agent's)."""
    try:
        container = inspect(project.engine, project.container_name)
    except EnvtrackError as error:
        return AgentCheck(f"warning: cannot check the agent, so the journal may be behind: {error.message}", None, None)
    if container is None:
        return AgentCheck(None, None, None)  # nothing runs: nothing can change (`down` reconciled before removing it)
    if not container.running:
        return AgentCheck(f"warning: {project.container_name} is {container.status}; "
                          "the next `envtrack up` reconciles what changed before it stopped", None, None)
    health = agent_health(project, container)
    if health.stopped:   # a restart cannot help: say why, once per command
        return AgentCheck(f"warning: recording has stopped in {project.container_name}: {health.stopped}", None, None)
    return AgentCheck(None, container, health)


def read_status_file(project: Project, container=None) -> dict:
    """The agent's status file: on this machine, or in a remote container's state volume."""
    from envtrack.container.state import read_state_text

    try:
        return json.loads(read_state_text(project, container, STATUS_FILE) or "{}")
    except ValueError:
        return {}


def _age(status: dict) -> float | None:
    """Seconds since the last heartbeat: from its Unix time, else (an older agent) its ISO stamp."""
    import time

    beat = status.get("heartbeat_unix")
    if isinstance(beat, (int, float)) and not isinstance(beat, bool):
        return max(0.0, time.time() - beat)
    stamp = status.get("heartbeat")
    if not isinstance(stamp, str) or not stamp:
        return None
    from datetime import datetime, timezone

    try:
        when = datetime.fromisoformat(stamp)  # the agent writes ...T01:02:03.456Z
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return max(0.0, (datetime.now(timezone.utc) - when).total_seconds())


def agent_health(project: Project, container: ContainerInfo | None) -> AgentHealth:
    """Alive means: this container's agent pid runs envtrack.agent (pids get reused) and is no zombie.

    The heartbeat alone would call a killed agent healthy until it went stale (45 s).
    """
    status = read_status_file(project, container)
    pid = status.get("pid") if isinstance(status.get("pid"), int) else None
    running = False
    if container is not None and container.running and pid and \
            str(status.get("container", "")) in (container.id[:12], container.hostname):
        running = process_alive(stat_and_cmdline(project.engine, container, pid))
    stopped = state_dir_full(project) if container is not None and container.running else None
    if stopped is None and running and isinstance(status.get("recording_failure"), str):
        stopped = f"the agent cannot write the journal ({status['recording_failure']})"
    return AgentHealth(running, pid, status.get("started"), status.get("heartbeat"), _age(status), stopped)


FULL_BELOW_BYTES = 256 * 1024   # less than this free: SQLite cannot grow the journal by a batch


def recording_stopped(project: Project) -> str | None:
    """Why the running container's changes are not being journaled, or None."""
    container = inspect(project.engine, project.container_name)
    return agent_health(project, container).stopped if container is not None else None


def state_dir_full(project: Project) -> str | None:
    """Why the project's `.envtrack/` can take no more, or None (a remote Engine's volume is
    not looked at here: its agent says so in its status file)."""
    import os

    if not project.engine.is_local:
        return None
    try:
        found = os.statvfs(project.state_dir)
    except OSError:
        return None
    free = found.f_bavail * found.f_frsize
    if free >= FULL_BELOW_BYTES:
        return None
    return (f"{project.state_dir} is full ({free // 1024} KiB free), so nothing is journaled; "
            "free space there and the agent records what it missed")


def process_alive(stat_and_cmdline: bytes) -> bool:
    """From `/proc/PID/stat` then `/proc/PID/cmdline`: an envtrack agent that is not dead or a zombie."""
    stat, _, cmdline = stat_and_cmdline.partition(b"\n")
    state = stat.rpartition(b")")[2].split()[:1]  # the field after `(comm)`; comm may hold spaces
    return bool(state) and state[0] not in (b"Z", b"X", b"x") and b"envtrack.agent" in cmdline


def stat_and_cmdline(endpoint: EngineEndpoint, container: ContainerInfo, pid: int) -> bytes:
    """PID's /proc stat and command line inside CONTAINER: read through the container's own
    /proc when the Engine runs on this machine (no round trip), else by running `cat` in it."""
    local = _local_proc(endpoint, container)
    if local is not None:
        try:
            return (local / str(pid) / "stat").read_bytes().rstrip(b"\n") + b"\n" + \
                (local / str(pid) / "cmdline").read_bytes()
        except OSError:
            return b""
    from envtrack.engine import api

    code, output = api.exec_run(endpoint, container.id, ["cat", f"/proc/{pid}/stat", f"/proc/{pid}/cmdline"])
    return output if code == 0 else b""


def _local_proc(endpoint: EngineEndpoint, container: ContainerInfo) -> Path | None:
    """The container's /proc as seen from here, when its init process is ours to look at."""
    if not container.pid or not endpoint.is_local:
        return None
    try:  # the pid must be this container's (a remote Engine's pids mean nothing here)
        if container.id not in Path(f"/proc/{container.pid}/cgroup").read_text():
            return None
        proc = Path(f"/proc/{container.pid}/root/proc")
        return proc if (proc / "1").is_dir() else None
    except OSError:
        return None


def oom_kills(container: ContainerInfo) -> int:
    """How many processes the kernel's OOM killer has ended in CONTAINER: its memory cgroup's
    `oom_kill` count (cgroup v2 memory.events, v1 memory.oom_control); 0 when unknown (a remote Engine)."""
    if not container.pid:
        return 0
    try:
        cgroups = Path(f"/proc/{container.pid}/cgroup").read_text()
    except OSError:
        return 0
    if container.id not in cgroups:
        return 0
    for line in cgroups.splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "memory":
            found = _oom_kill_count(Path("/sys/fs/cgroup/memory", path.lstrip("/"), "memory.oom_control"))
        elif controllers == "":
            found = _oom_kill_count(Path("/sys/fs/cgroup", path.lstrip("/"), "memory.events"))
        else:
            continue
        if found:
            return found
    return 0


def _oom_kill_count(path: Path) -> int:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return 0
    counts = dict(line.split(None, 1) for line in lines if " " in line)
    try:
        return int(counts.get("oom_kill", "0"))
    except ValueError:
        return 0
