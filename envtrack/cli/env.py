"""`envtrack up | down | status | shell | exec | log`: the project's container and its journal."""

from __future__ import annotations

import json
import os
import sys
from typing import List, Optional

import typer

from envtrack.cli.app import app, fail, warn_about_agent
from envtrack.agent.layout import WORKSPACE
from envtrack.errors import EnvtrackError


def _project(file: Optional[str]):
    from envtrack.project import Project

    return Project.find(file)


@app.command()
def up(
    file: Optional[str] = typer.Argument(None, help="build.envd or its directory (default: .)"),
    progress: str = typer.Option("auto", help="Build progress: auto, plain, quiet."),
    host_ca: bool = typer.Option(True, "--host-ca/--no-host-ca",
                                 help="Mount this machine's CA bundle so pip/requests trust an intercepting proxy."),
    build: bool = typer.Option(True, "--build/--no-build", help="Build the image if build.envd changed."),
    json_out: bool = typer.Option(False, "--json", help="Print the container status as JSON."),
    locked: bool = typer.Option(False, "--locked", help="Build with each requested package at the lock's version "
                                "(envtrack.lock beside build.envd, or a lock file given as FILE / --lock)."),
    lock: Optional[str] = typer.Option(None, "--lock", help="The lock file for --locked."),
) -> None:
    """Build if needed, start (or reuse) the project's container, and start the change agent."""
    try:
        from envtrack.container import service as env_container

        if locked:  # F's snapshot part: `up --locked [LOCK]`
            from envtrack.snapshot.locked import split_up_arguments

            file, lock = split_up_arguments(file, lock)
        from envtrack.statedir import project_lock

        project = _project(file)
        project.require_writable_state("envtrack up")   # before a build that could take minutes
        with project_lock(project.state_dir, "up"):
            image = (_locked_image(project, lock, progress) if locked
                     else _image_for(project, progress=progress, build=build))
            outcome = env_container.ensure_running(project, image, host_ca=host_ca)
            agent = env_container.start_agent(project, outcome.container)
            if not json_out:   # at once: the agent's state (recording off says so here) before the apt lists
                print(f"{outcome.verb} {project.container_name} ({image}); agent {agent}", flush=True)
            apt_note = env_container.refresh_apt_lists(outcome.container)
            status = env_container.status(project)
    except EnvtrackError as error:
        fail(error)
        return
    if json_out:
        print(json.dumps(status, sort_keys=True))
    else:
        if apt_note:
            print(f"  {apt_note}")
        print(f"  enter it: envtrack shell   changes: envtrack log")


def _locked_image(project, lock: Optional[str], progress: str) -> str:
    from envtrack.snapshot.locked import build_locked, resolve_lock_path

    return build_locked(project, resolve_lock_path(project, lock), progress=progress).image


def _image_for(project, *, progress: str, build: bool) -> str:
    if not build:
        return f"{project.image_repo}:latest"
    try:
        from envtrack.build.service import build_project
    except ImportError as error:  # the builder is another part of envtrack; say so plainly
        raise EnvtrackError(f"cannot build: envtrack.build is unavailable ({error})",
                            hint="pass --no-build to use the last built image") from None
    return build_project(project, progress=progress).image


@app.command()
def down(
    file: Optional[str] = typer.Option(None, "--file", "-f", help="build.envd or its directory (default: .)"),
) -> None:
    """Journal what the agent has not yet (reconcile), then stop and remove the container. The journal stays."""
    try:
        from envtrack.container import service as env_container
        from envtrack.statedir import project_lock

        project = _project(file)
        with project_lock(project.state_dir, "down"):
            outcome = env_container.remove(project)
    except EnvtrackError as error:
        fail(error)
        return
    if outcome.warning:
        print(f"warning: {outcome.warning}", file=sys.stderr)
    if not outcome.removed:
        print(f"{project.container_name} is not running")
        return
    late = f"; reconciled {outcome.reconciled} change(s) the agent had not journaled" if outcome.reconciled else ""
    print(f"removed {project.container_name}{late}")


@app.command()
def status(
    file: Optional[str] = typer.Option(None, "--file", "-f", help="build.envd or its directory (default: .)"),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """The container, its image, the agent's health and how many changes are recorded."""
    try:
        from envtrack.container import service as env_container

        project = _project(file)
        info = env_container.status(project)
    except EnvtrackError as error:
        fail(error)
        return
    if json_out:
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


@app.command()
def shell(
    file: Optional[str] = typer.Option(None, "--file", "-f", help="build.envd or its directory (default: .)"),
) -> None:
    """An interactive shell in the project's container."""
    try:
        from envtrack.container import service as env_container

        project = _project(file)
        env_container.require_running(project)
    except EnvtrackError as error:
        fail(error)
        return
    command = ["bash", "-l"] if _has_bash(project) else ["sh", "-l"]
    _exec_interactive(project.container_name, command)


def _has_bash(project) -> bool:
    from envtrack.container import service as env_container

    return env_container.exec_capture(project, ["sh", "-c", "command -v bash"])[0] == 0


def _exec_interactive(name: str, command: List[str]) -> None:
    from envtrack.endpoints import engine

    docker = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else None
    tty = ["-it"] if sys.stdin.isatty() and sys.stdout.isatty() else ["-i"]
    if docker:  # the docker CLI is pointed at the Engine envtrack chose, whatever chose it
        os.execve(docker, [docker, "exec", *tty, "-w", WORKSPACE, name, *command],
                  {**os.environ, **engine().docker_env()})
    from envtrack.container import service as env_container

    raise typer.Exit(env_container.exec_stream(name, command))


@app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec_(
    ctx: typer.Context,
    file: Optional[str] = typer.Option(None, "--file", "-f", help="build.envd or its directory (default: .)"),
) -> None:
    """Run a command in the project's container: envtrack exec -- CMD ARGS. Exits with its code."""
    command = [arg for arg in ctx.args]
    if command[:1] == ["--"]:
        command = command[1:]
    try:
        from envtrack.container import service as env_container

        if not command:
            raise EnvtrackError("nothing to run: envtrack exec -- CMD [ARGS]", exit_code=2)
        project = _project(file)
        env_container.require_running(project)
        warn_about_agent(project)
        code = env_container.exec_stream(project.container_name, command)
    except EnvtrackError as error:
        fail(error)
        return
    raise typer.Exit(code)


@app.command()
def log(
    file: Optional[str] = typer.Option(None, "--file", "-f", help="build.envd or its directory (default: .)"),
    since: Optional[str] = typer.Option(None, help="Only changes after this ID, or at/after this ISO time."),
    json_out: bool = typer.Option(False, "--json", help="One JSON list of change rows."),
) -> None:
    """The recorded package changes, oldest first; requested packages apart from dependencies."""
    from envtrack.journal.db import JournalError
    from envtrack.journal.history import SinceError, load_changes, render

    from envtrack.container.state import journal_for

    try:
        project = _project(file)
        warn_about_agent(project)
        rows = load_changes(journal_for(project), since)
    except EnvtrackError as error:
        fail(error)
        return
    except JournalError as error:  # the journal package ships into containers: no EnvtrackError there
        fail(EnvtrackError(str(error), exit_code=2 if isinstance(error, SinceError) else 1))
        return
    if json_out:
        print(json.dumps(rows, sort_keys=True))
    else:
        print(render(rows), end="")
