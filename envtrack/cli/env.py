"""`envtrack up | down | status | shell | exec | log`: the project's container and its journal."""

from __future__ import annotations

import json
import os
import sys

from envtrack.errors import EnvtrackError
from envtrack.project import open_project


def warn_about_agent(project) -> None:
    """One line on stderr when the agent is not recording (after restarting it, which reconciles)."""
    from envtrack.container.recording import agent_warning

    warning = agent_warning(project)
    if warning:
        print(warning, file=sys.stderr)


def up(file: str | None, progress: str, host_ca: bool, build: bool, as_json: bool, locked: bool,
       lock: str | None, pull: bool = False, from_ref: str | None = None) -> None:
    """Build if needed, start (or reuse) the project's container, and start the change agent."""

    def ready(project, result) -> None:   # noqa: ANN001
        if not as_json:   # at once: the agent's state (recording off says so here) before the apt lists
            print(f"{result.outcome.verb} {project.container_name} ({result.image}); agent {result.agent}",
                  flush=True)

    options = dict(progress=progress, host_ca=host_ca, build=build, locked=locked, lock=lock, pull=pull,
                   on_ready=ready, with_status=as_json)
    if from_ref:
        from envtrack.share import up_from

        done = up_from(file, from_ref, on_line=lambda line: print(line, file=sys.stderr), **options)
    else:
        from envtrack.container.service import up_project

        done = up_project(file, **options)
    result, apt_note = done.result, done.apt_note
    if as_json:
        print(json.dumps(done.status, sort_keys=True))
    else:
        if apt_note:
            print(f"  {apt_note}")
        if result.ssh_warning:
            print(result.ssh_warning, file=sys.stderr)
        login = f"   log in: {result.ssh} (or envtrack ssh)" if result.ssh else ""
        print(f"  enter it: envtrack shell{login}   changes: envtrack log")


def down(file: str | None) -> None:
    """Journal what the agent has not yet (reconcile), then stop and remove the container. The journal stays."""
    from envtrack.container import service as env_container

    project = open_project(file, envd_optional=True)
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

    info = env_container.status(open_project(file))
    if as_json:
        print(json.dumps(info, sort_keys=True))
        return
    print(f"container  {info['container']} ({info['state_detail']})")
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
    for name, url in info["services"].items():
        print(f"{name:<10} {url}")
    if info["ports"]:
        print(f"ports      {', '.join(f'{host} -> {port}' for port, host in info['ports'].items())}")


def shell(file: str | None, root: bool = False) -> int:
    """An interactive shell in the project's container (as a dev environment's user unless --root)."""
    from envtrack.container.session import open_shell

    return open_shell(file, root, on_warning=_to_stderr)


def exec_(file: str | None, command: list[str], root: bool = False) -> int:
    """Run a command in the project's container: envtrack exec -- CMD ARGS. Exits with its code."""
    from envtrack.container.session import run_command

    return run_command(file, command, root, on_warning=_to_stderr)


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def ssh(file: str | None, command: list[str]) -> int:
    """Log in to a dev environment over SSH (or run COMMAND there): ssh PROJECT.envtrack, short."""
    from envtrack.container.service import ssh_argv

    argv = ssh_argv(open_project(file), command)
    sys.stdout.flush()
    try:
        os.execvp(argv[0], argv)
    except OSError as error:
        raise EnvtrackError(f"cannot run ssh: {error.strerror}", hint="install openssh-client") from None


def log(file: str | None, since: str | None, as_json: bool) -> None:
    """The recorded package changes, oldest first; requested packages apart from dependencies."""
    from envtrack.container.state import recorded_changes
    from envtrack.journal.history import render

    project = open_project(file)
    warn_about_agent(project)
    rows = recorded_changes(project, since)
    if as_json:
        print(json.dumps([row.as_json() for row in rows], sort_keys=True))
    else:
        print(render(rows), end="")
