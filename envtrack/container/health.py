"""The agent seen from the host: start it, and judge its health from its heartbeat file and /proc."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from envtrack.agent.layout import AGENT_LOG, HEARTBEAT_SECONDS, STATUS_FILE
from envtrack.container.engine import ContainerInfo
from envtrack.container.spec import NO_PYTHON_EXIT, agent_command
from envtrack.engine import api
from envtrack.errors import EnvtrackError
from envtrack.project import Project


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


def read_status_file(project: Project, container=None) -> dict:
    """The agent's status file: on this machine, or in a remote container's state volume."""
    from envtrack.container.state import read_state_text

    try:
        return json.loads(read_state_text(project, container, STATUS_FILE) or "{}")
    except ValueError:
        return {}


def _age(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        when = datetime.fromisoformat(stamp)  # the agent writes ...T01:02:03.456Z (strptime loads more)
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
        running = process_alive(_stat_and_cmdline(container, pid))
    return AgentHealth(running, pid, status.get("started"), status.get("heartbeat"), _age(status.get("heartbeat")))


def process_alive(stat_and_cmdline: bytes) -> bool:
    """From `/proc/PID/stat` then `/proc/PID/cmdline`: an envtrack agent that is not dead or a zombie."""
    stat, _, cmdline = stat_and_cmdline.partition(b"\n")
    state = stat.rpartition(b")")[2].split()[:1]  # the field after `(comm)`; comm may hold spaces
    return bool(state) and state[0] not in (b"Z", b"X", b"x") and b"envtrack.agent" in cmdline


def _stat_and_cmdline(container: ContainerInfo, pid: int) -> bytes:
    """PID's /proc stat and command line inside CONTAINER: read through the container's own
    /proc when the Engine runs on this machine (no round trip), else by running `cat` in it."""
    local = _local_proc(container)
    if local is not None:
        try:
            return (local / str(pid) / "stat").read_bytes().rstrip(b"\n") + b"\n" + \
                (local / str(pid) / "cmdline").read_bytes()
        except OSError:
            return b""
    code, output = api.exec_run(container.id, ["cat", f"/proc/{pid}/stat", f"/proc/{pid}/cmdline"])
    return output if code == 0 else b""


def _local_proc(container: ContainerInfo) -> Path | None:
    """The container's /proc as seen from here, when its init process is ours to look at."""
    from envtrack.container.state import engine_is_remote

    if not container.pid or engine_is_remote():
        return None
    try:  # the pid must be this container's (a remote Engine's pids mean nothing here)
        if container.id not in Path(f"/proc/{container.pid}/cgroup").read_text():
            return None
        proc = Path(f"/proc/{container.pid}/root/proc")
        return proc if (proc / "1").is_dir() else None
    except OSError:
        return None


def stop_agent(container: ContainerInfo, health: AgentHealth, timeout: float = 5.0) -> None:
    """End the agent HEALTH describes (TERM, then KILL); its batches are transactions, none is torn."""
    if not health.running or not health.pid:
        return
    deadline = time.monotonic() + timeout
    signal = "TERM"
    while True:
        api.exec_run(container.id, ["sh", "-c", f"kill -{signal} {health.pid} 2>/dev/null"])
        if not process_alive(_stat_and_cmdline(container, health.pid)):
            return
        if time.monotonic() >= deadline:
            if signal == "KILL":
                raise EnvtrackError(f"the agent (pid {health.pid}) does not stop")
            signal, deadline = "KILL", time.monotonic() + timeout
        time.sleep(0.1)


def reconcile_once(project: Project, container: ContainerInfo) -> None:
    """Run the agent once, in the foreground: it journals, as reconciled, what its last scan missed.

    Only when no agent runs (the agent's own lock would make this copy exit at once).
    """
    code, output = api.exec_run(container.id, agent_command(once=True))
    if code != 0:
        raise EnvtrackError(f"the agent could not reconcile in {project.container_name} (exit {code}): "
                            f"{_log_tail(project, container)}", hint=f"see {project.state_dir / AGENT_LOG}")


EXIT_POLL_SECONDS = 0.2   # how often to ask the Engine whether a starting agent has exited


class NoPythonError(EnvtrackError):
    """The environment has no system python3 >= 3.8 to run the agent on."""


def ensure_agent(project: Project, container: ContainerInfo, timeout: float = 60.0) -> tuple[AgentHealth, bool]:
    """Start the agent unless it already runs; wait until it has taken its baseline.

    Returns (health, started). The agent holds a lock, so a second copy would exit at once.
    An agent that exits instead is reported at once with its last log line, and
    NoPythonError says the environment cannot run it at all.
    """
    health = agent_health(project, container)
    if health.running:
        return health, False
    from envtrack.journal.db import utc_now  # here: exec and status check health without the journal

    since = utc_now()
    exec_id = api.exec_detached(container.id, agent_command())
    return wait_for_agent(project, container, since, lambda: api.exec_exit_code(exec_id), timeout), True


def wait_for_agent(project: Project, container, since: str, exit_code, timeout: float) -> AgentHealth:
    """Until the agent's first heartbeat after SINCE, or until EXIT_CODE() says it exited."""
    deadline = time.monotonic() + timeout
    with StateDirWatch(project.state_dir) as changed:
        while time.monotonic() < deadline:
            _check_agent(project, container, since, exit_code)
            health = _started(project, container, since)
            if health is not None:
                return health
            changed.wait(EXIT_POLL_SECONDS)   # woken by the agent's first write, else checks its exit again
            changed.clear()
    raise EnvtrackError(f"the agent did not start in {project.container_name} within {timeout:.0f} s: "
                        f"{_log_tail(project, container)}", hint=f"see {project.state_dir / AGENT_LOG}")


def _started(project: Project, container, since: str) -> AgentHealth | None:
    if (read_status_file(project, container).get("heartbeat") or "") >= since:
        health = agent_health(project, container)
        if health.running:
            return health
    return None


def _check_agent(project: Project, container, since: str, exit_code) -> None:
    code = exit_code()
    if code == NO_PYTHON_EXIT:
        raise NoPythonError(_log_tail(project, container))
    if code and _started(project, container, since) is None:
        # 0 is a second copy that found the agent running: its heartbeat follows.
        raise EnvtrackError(f"the agent exited at start in {project.container_name} (exit {code}): "
                            f"{_log_tail(project, container)}", hint=f"see {project.state_dir / AGENT_LOG}")


class StateDirWatch:
    """A threading.Event set whenever a file in the state directory is written (watchdog, host side).

    The agent's heartbeat file and log land there; waking on them makes `up` return the moment
    the agent is ready instead of on the next poll.
    """

    def __init__(self, state_dir) -> None:
        self.state_dir = str(state_dir)
        self.event = threading.Event()
        self.observer = None

    def __enter__(self) -> threading.Event:
        import logging

        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        # watchdog logs a race at stop as an error; unconfigured, Python would print it to the user.
        logging.getLogger("watchdog").addHandler(logging.NullHandler())
        event = self.event

        class Wake(FileSystemEventHandler):
            def on_any_event(self, _change) -> None:
                event.set()

        observer = Observer()
        try:
            observer.schedule(Wake(), self.state_dir, recursive=False)
            observer.start()
            self.observer = observer
        except OSError:
            pass   # no inotify here: the caller's timeout turns the wait into a poll
        return self.event

    def __exit__(self, *_exc) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(5)


def _log_tail(project: Project, container) -> str:
    from envtrack.container.state import read_state_text

    text = read_state_text(project, container, AGENT_LOG)
    if text is None:
        return "no agent log"
    lines = text.strip().splitlines()
    return lines[-1] if lines else "empty agent log"
