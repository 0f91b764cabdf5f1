"""What the CLI calls for `up`, `down`, `status`, `exec`: one function per action."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envtrack.agent.layout import WORKSPACE
from envtrack.container.engine import call_engine, ensure_container, find_container
from envtrack.container.health import AgentHealth, agent_health, ensure_agent, reconcile_once, stop_agent
from envtrack.container.spec import container_spec, state_volume
from envtrack.container.state import engine_is_remote, journal_for
from envtrack.errors import EnvtrackError
from envtrack.hostca import host_ca_path
from envtrack.project import Project
from envtrack.statedir import ensure_state_dir


def host_ca_bundle() -> str | None:
    path = host_ca_path()
    return path if os.path.isfile(path) else None




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
    ensure_state_dir(project.state_dir)
    spec = container_spec(project, image, image_id, _plan_steps(project), bundle_dir=prepare_bundle(),
                          host_ca=host_ca_bundle() if host_ca else None, home=os.path.expanduser("~"),
                          remote=engine_is_remote())
    container, action = ensure_container(client, spec)
    return UpOutcome(container, "reused" if action == "running" else action)


def start_agent(project: Project, container) -> str:
    """Start the agent unless it runs; a short description for the user.

    In an environment without a system python3 >= 3.8 the agent runs in a companion
    container instead (companion.py); without the companion's image, live recording is off
    and the description says so and why.
    """
    from envtrack.container.health import NoPythonError

    try:
        health, started = ensure_agent(project, container)
    except NoPythonError as error:
        return _start_companion(project, container, error.message)
    return f"{'started' if started else 'running'} (pid {health.pid})"


def _start_companion(project: Project, container, why: str) -> str:
    import docker

    from envtrack.container.companion import agent_image, companion_spec
    from envtrack.container.engine import replace_container
    from envtrack.container.health import wait_for_agent
    from envtrack.journal.db import utc_now

    client = _client()
    try:
        client.images.get(agent_image())
    except docker.errors.ImageNotFound:
        reconcile_from_host(project, container)
        return (f"off: live recording is off ({why.removeprefix('envtrack-agent: ')}, and the companion agent "
                f"image {agent_image()} is missing: run `envtrack engine setup`); "
                "`sync` and `snapshot` reconcile against the baseline")
    spec = companion_spec(project, container)
    since = utc_now()
    companion = replace_container(client, spec.run_kwargs())

    def exit_code() -> int | None:
        companion.reload()
        if companion.status not in ("exited", "dead"):
            return None
        return int(companion.attrs["State"]["ExitCode"]) or 1   # exiting at all is a failure here

    health = wait_for_agent(project, container, since, exit_code, timeout=60.0)
    return f"started in companion container {spec.name} (pid {health.pid}; the environment has no python3)"


def reconcile_from_host(project: Project, container) -> int:
    """Without any agent: journal what changed since the last look, from records copied out of
    the container (dpkg, apt, conda: what an environment without python3 can hold). The first
    look takes the baseline. The number of changes journaled."""
    import contextlib
    import tempfile

    from envtrack.agent.layout import AGENT_LOG
    from envtrack.agent.run import Agent
    from envtrack.container.companion import env_hostname
    from envtrack.snapshot.sources import copy_records

    with tempfile.TemporaryDirectory(prefix="envtrack-reconcile-") as root, \
            open(project.state_dir / AGENT_LOG, "a", encoding="utf-8") as log, contextlib.redirect_stderr(log):
        copy_records(container, Path(root))   # the agent's own log lines go to agent.log, as inside
        agent = Agent(str(project.state_dir), root, container=env_hostname(container), recorder="host")
        try:
            return agent.start()
        finally:
            agent.db.close()


def catch_up(project: Project) -> int:
    """Before `sync`: reconcile a journal the host keeps (no agent could run); 0 otherwise."""
    from contextlib import closing

    from envtrack.journal import db as journal_db

    if not project.journal_path.exists():
        return 0
    try:
        with closing(journal_db.open_journal(project.journal_path)) as db:
            if journal_db.recorder(db) != "host":
                return 0
    except journal_db.JournalError as error:
        raise EnvtrackError(str(error)) from None
    container = find_container(_client(), project.container_name)
    if container is None or container.status != "running":
        return 0
    return reconcile_from_host(project, container)


def refresh_apt_lists(container) -> str:
    """`apt-get update` in a container whose image has no package lists, so `apt-get install
    NAME` works at once (builds keep the lists in a cache mount, outside the image).

    A short note for the user: empty when nothing had to be done; a failure (no network) is
    a warning, never a failed `up`.
    """
    script = ("command -v apt-get >/dev/null || exit 0; ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1 && exit 0; "
              "out=$(apt-get update -q 2>&1) && exit 10; printf '%s' \"$out\" | tail -n 1; exit 11")
    code, output = container.exec_run(["sh", "-c", script], user="root", demux=False)
    if code == 10:
        return "apt package lists refreshed"
    if code == 0:
        return ""
    return f"warning: apt-get update failed, `apt-get install` needs it first: {(output or b'').decode(errors='replace').strip()}"


def require_running(project: Project):
    container = find_container(_client(), project.container_name)
    if container is None or container.status != "running":
        raise EnvtrackError(f"{project.container_name} is not running", hint="start it with `envtrack up`")
    return container


@dataclass(frozen=True)
class RemoveOutcome:
    removed: bool
    reconciled: int | None     # changes journaled by the last reconcile; None when it could not run
    warning: str | None = None


def remove(project: Project) -> RemoveOutcome:
    """Reconcile (the agent may have died, or not scanned the last change yet), then remove the container."""
    container = find_container(_client(), project.container_name)
    if container is None:
        return RemoveOutcome(False, 0)
    reconciled, warning = None, None
    try:
        reconciled = _final_reconcile(project, container)
    except EnvtrackError as error:
        warning = f"changes since the agent's last scan are not journaled: {error.message}"
    from envtrack.container.companion import companion_name

    companion = find_container(_client(), companion_name(project))   # ends with the container anyway
    if companion is not None:
        call_engine(lambda: companion.remove(force=True), f"cannot remove {companion.name}")
    call_engine(lambda: container.remove(force=True), f"cannot remove {project.container_name}")
    return RemoveOutcome(True, reconciled, warning)


def _final_reconcile(project: Project, container) -> int:
    """Stop the agent and run it once, so the live inventory is journaled before the container goes."""
    if container.status != "running":
        call_engine(container.start, f"cannot start {project.container_name} to reconcile its changes")
        container.reload()
    before = change_counts(project)["total"]
    stop_agent(container, agent_health(project, container))
    reconcile_once(project, container)
    return change_counts(project)["total"] - before


def agent_warning(project: Project) -> str | None:
    """None when the agent is recording; else one line for stderr saying what was done about it.

    A dead or hung agent is restarted, which reconciles what changed while it was not recording.
    """
    try:
        container = find_container(_client(), project.container_name)
    except EnvtrackError as error:
        return f"warning: cannot check the agent, so the journal may be behind: {error.message}"
    if container is None:
        return None  # nothing runs: nothing can change (`down` reconciled before removing it)
    name = project.container_name
    if container.status != "running":
        return (f"warning: {name} is {container.status}; "
                "the next `envtrack up` reconciles what changed before it stopped")
    health = agent_health(project, container)
    if health.healthy:
        return None
    try:
        stop_agent(container, health)  # alive but silent: hung
        ensure_agent(project, container)
    except EnvtrackError as error:
        return f"warning: the agent in {name} is {_describe(health)} and could not be restarted: {error.message}"
    return (f"warning: the agent in {name} was {_describe(health)}; "
            "restarted it, which reconciled what changed meanwhile")


def _describe(health: AgentHealth) -> str:
    return "not running" if not health.running else f"silent for {health.heartbeat_age or 0:.0f} s"


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
    """Recorded changes and, per package table (baseline, inventory), how many packages it holds."""
    from contextlib import closing

    import sqlite_utils

    from envtrack.journal import db as journal_db

    journal = journal_for(project)
    if not journal.exists():
        return {"total": 0, "requested": 0, "reconciled": 0}
    try:
        with closing(journal_db.open_journal(journal)) as db:
            counts = journal_db.change_counts(db)
            # sqlite-utils serves host-side reads like this one; the schema's names stay in journal/.
            tables = sqlite_utils.Database(db)
            counts.update({f"{table}_packages": tables[table].count for table in journal_db.PACKAGE_TABLES})
            return counts
    except journal_db.JournalError as error:
        raise EnvtrackError(str(error)) from None


def status(project: Project) -> dict:
    from envtrack.endpoints import current

    container = find_container(_client(), project.container_name)
    health = agent_health(project, container)
    endpoints = current()
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
        "journal_home": (f"volume {state_volume(project)} on {endpoints.engine.display}"
                         if not endpoints.engine.is_local else str(project.state_dir)),
        "engine": endpoints.engine.describe(),
        "builder": endpoints.builder.describe(),
        "context": endpoints.context,
    }
