"""`envtrack up | down | status | shell | exec | log`: the project's container and its journal."""

from __future__ import annotations

import json
import os
import sys

from envtrack.errors import EnvtrackError


def _project(file: str | None):
    from envtrack.project import Project

    return Project.find(file)


def warn_about_agent(project) -> None:
    """One line on stderr when the agent is not recording (after restarting it, which reconciles)."""
    from envtrack.container.recording import agent_warning

    warning = agent_warning(project)
    if warning:
        print(warning, file=sys.stderr)


def up(file: str | None, progress: str, host_ca: bool, build: bool, as_json: bool, locked: bool,
       lock: str | None) -> None:
    """Build if needed, start (or reuse) the project's container, and start the change agent."""
    from envtrack.container import service as env_container

    if locked:
        from envtrack.snapshot.locked import split_up_arguments

        file, lock = split_up_arguments(file, lock)
    project = _project(file)
    project.require_writable_state("envtrack up")   # before a build that could take minutes
    from envtrack.statedir import project_lock

    with project_lock(project.state_dir, "up"):
        result = env_container.up(project, progress=progress, host_ca=host_ca, build=build, locked=locked,
                                  lock=lock)
        if not as_json:   # at once: the agent's state (recording off says so here) before the apt lists
            print(f"{result.outcome.verb} {project.container_name} ({result.image}); agent {result.agent}",
                  flush=True)
        # A reused container had its lists refreshed when it was created.
        apt_note = "" if result.outcome.verb == "reused" else env_container.refresh_apt_lists(result.outcome.container)
    if as_json:
        print(json.dumps(env_container.status(project), sort_keys=True))
    else:
        if apt_note:
            print(f"  {apt_note}")
        print("  enter it: envtrack shell   changes: envtrack log")


def down(file: str | None) -> None:
    """Journal what the agent has not yet (reconcile), then stop and remove the container. The journal stays."""
    from envtrack.container import service as env_container
    from envtrack.statedir import project_lock

    project = _project(file)
    with project_lock(project.state_dir, "down"):
        outcome = env_container.remove(project)
    if outcome.warning:
        print(f"warning: {outcome.warning}", file=sys.stderr)
    if not outcome.removed:
        print(f"{project.container_name} is not running")
        return
    late = f"; reconciled {outcome.reconciled} change(s) the agent had not journaled" if outcome.reconciled else ""
    print(f"removed {project.container_name}{late}")


def status(file: str | None, as_json: bool) -> None:
    """The container, its image, the agent's health and how many changes are recorded."""
    from envtrack.container import service as env_container

    info = env_container.status(_project(file))
    if as_json:
        print(json.dumps(info, sort_keys=True))
        return
    print(f"container  {info['container']} ({info['state']})")
    print(f"image      {info['image'] or '-'}")
    print(f"agent      {info['agent']}")
    counts = info["changes"]
    print(f"changes    {counts['total']} recorded ({counts['requested']} requested, "
          f"{counts['reconciled']} reconciled after downtime)")
    print(f"journal    {info['journal_home']}")
    print(f"engine     {info['engine']}")
    print(f"builder    {info['builder']}")
    if "baseline_packages" in counts:
        print(f"baseline   {counts['baseline_packages']} packages when the container started")


def shell(file: str | None) -> int:
    """An interactive shell in the project's container."""
    from envtrack.agent.layout import WORKSPACE
    from envtrack.container import service as env_container

    project = _project(file)
    env_container.require_running(project)
    command = env_container.shell_command(project)
    docker = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else None
    if docker:  # a real terminal (raw mode, resizes) is the docker CLI's job, pointed at envtrack's Engine
        from envtrack.endpoints import engine

        tty = ["-it"] if sys.stdin.isatty() and sys.stdout.isatty() else ["-i"]
        sys.stdout.flush()
        os.execve(docker, [docker, "exec", *tty, "-w", WORKSPACE, project.container_name, *command],
                  {**os.environ, **engine().docker_env()})
    from envtrack.container.run import exec_stream

    return exec_stream(project.container_name, command)


def exec_(file: str | None, command: list[str]) -> int:
    """Run a command in the project's container: envtrack exec -- CMD ARGS. Exits with its code."""
    from envtrack.container.run import exec_stream

    if not command:
        raise EnvtrackError("nothing to run: envtrack exec -- CMD [ARGS]", exit_code=2)
    project = _project(file)
    warn_about_agent(project)
    return exec_stream(project.container_name, command)


def log(file: str | None, since: str | None, as_json: bool) -> None:
    """The recorded package changes, oldest first; requested packages apart from dependencies."""
    from envtrack.container.state import journal_for
    from envtrack.journal.db import JournalError
    from envtrack.journal.history import SinceError, load_changes, render

    project = _project(file)
    warn_about_agent(project)
    try:
        rows = load_changes(journal_for(project), since)
    except JournalError as error:  # the journal package ships into containers: no EnvtrackError there
        raise EnvtrackError(str(error), exit_code=2 if isinstance(error, SinceError) else 1) from None
    if as_json:
        print(json.dumps(rows, sort_keys=True))
    else:
        print(render(rows), end="")
