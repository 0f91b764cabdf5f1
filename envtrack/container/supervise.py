"""Start, stop and restart the agent in the project's container, and wait for it to be ready.

What the host judges about the agent (is it running, is it beating) is container/health.py's;
this module acts on that judgement, so only `up`, `down` and a restart load it.
"""

from __future__ import annotations

import threading
import time

from envtrack.agent.layout import AGENT_LOG
from envtrack.container.engine import ContainerInfo
from envtrack.container.health import AgentHealth, agent_health, process_alive, read_status_file, stat_and_cmdline
from envtrack.container.spec import NO_PYTHON_EXIT, agent_command
from envtrack.engine import api
from envtrack.errors import EnvtrackError
from envtrack.project import Project


def restart_agent(project: Project, container: ContainerInfo, health: AgentHealth) -> str:
    """Restart a dead or hung agent, which reconciles what changed meanwhile; one line saying so."""
    name = project.container_name
    try:
        stop_agent(project, container, health)  # alive but silent: hung
        ensure_agent(project, container)
    except EnvtrackError as error:
        return f"warning: the agent in {name} is {health.describe()} and could not be restarted: {error.message}"
    return (f"warning: the agent in {name} was {health.describe()}; "
            "restarted it, which reconciled what changed meanwhile")


def stop_agent(project: Project, container: ContainerInfo, health: AgentHealth, timeout: float = 5.0) -> None:
    """End the agent HEALTH describes (TERM, then KILL); its batches are transactions, none is torn."""
    if not health.running or not health.pid:
        return
    deadline = time.monotonic() + timeout
    signal = "TERM"
    while True:
        api.exec_run(project.engine, container.id, ["sh", "-c", f"kill -{signal} {health.pid} 2>/dev/null"])
        if not process_alive(stat_and_cmdline(project.engine, container, health.pid)):
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
    code, output = api.exec_run(project.engine, container.id, agent_command(once=True))
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
    exec_id = api.exec_detached(project.engine, container.id, agent_command())
    return wait_for_agent(project, container, since, lambda: api.exec_exit_code(project.engine, exec_id), timeout), True


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
