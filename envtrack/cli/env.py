"""`envtrack up | down | status | shell | exec | log`: the project's container and its journal."""

from __future__ import annotations

import json
import os
import sys

from envtrack.errors import EnvtrackError
from envtrack.project import open_project


def warn_about_agent(project):
    """One line on stderr when the agent is not recording (after restarting it, which reconciles);
    the running container as inspected for that (None when there is none)."""
    from envtrack.container.health import check_agent
    from envtrack.container.recording import agent_warning

    check = check_agent(project)
    warning = agent_warning(project, check)
    if warning:
        print(warning, file=sys.stderr)
    return check.container


def _session(project, container, root: bool) -> tuple[str | None, list[str], int | None]:
    """Who a shell or command runs as (a dev environment's user unless ROOT), the environment
    that forwards the host's SSH agent into it, and the pid of that agent's relay."""
    labels = container.labels if container is not None else {}
    user = "root" if root else labels.get("envtrack.dev.user")   # devenv.USER_LABEL, read without importing
    host_socket = os.environ.get("SSH_AUTH_SOCK")
    if not host_socket or container is None:
        return user, [], None
    if not project.engine.is_local:
        return user, [], None
    from envtrack.agent.layout import STATE_MOUNT
    from envtrack.container.agent_relay import start_relay
    from envtrack.devenv import AGENT_DIR, HOST_AGENT_DIR, OWNER_LABEL

    owner = labels.get(OWNER_LABEL)
    if owner:   # a dev environment: its folder for the socket, the user's
        uid, gid = (int(n) for n in owner.split(":"))
        relay = start_relay(project.state_dir / HOST_AGENT_DIR, AGENT_DIR, host_socket, (uid, gid))
    else:
        relay = start_relay(project.state_dir, STATE_MOUNT, host_socket)
    if relay is None:
        print("warning: cannot forward the SSH agent (no socket in the state folder)", file=sys.stderr)
        return user, [], None
    return user, [f"SSH_AUTH_SOCK={relay[0]}"], relay[1]


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
    from envtrack.agent.layout import WORKSPACE
    from envtrack.container import service as env_container

    project = open_project(file)
    container = env_container.require_running(project)
    command = env_container.shell_command(project)
    user, env, relay = _session(project, container, root)
    docker = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else None
    if docker:  # a real terminal (raw mode, resizes) is the docker CLI's job, pointed at envtrack's Engine
        tty = ["-it"] if sys.stdin.isatty() and sys.stdout.isatty() else ["-i"]
        options = (["-u", user] if user else []) + [word for pair in env for word in ("-e", pair)]
        sys.stdout.flush()
        os.execve(docker, [docker, "exec", *tty, *options, "-w", WORKSPACE, project.container_name, *command],
                  {**os.environ, **project.engine.docker_env()})   # the relay follows the docker CLI
    return _run(project, command, user, env, relay)


def exec_(file: str | None, command: list[str], root: bool = False) -> int:
    """Run a command in the project's container: envtrack exec -- CMD ARGS. Exits with its code."""
    if not command:
        raise EnvtrackError("nothing to run: envtrack exec -- CMD [ARGS]", exit_code=2)
    project = open_project(file)
    container = warn_about_agent(project)
    user, env, relay = _session(project, container, root)
    return _run(project, command, user, env, relay)


def _run(project, command: list[str], user: str | None, env: list[str], relay: int | None) -> int:
    from envtrack.container.run import exec_stream

    try:
        code = exec_stream(project.engine, project.container_name, command, user=user, env=env)
        if code == KILLED_EXIT:
            explain_kill(project, command)
        return code
    finally:
        if relay is not None:
            from envtrack.container.agent_relay import stop_relay

            stop_relay(relay)


KILLED_EXIT = 128 + 9   # SIGKILL: the OOM killer's signal, and `docker kill`'s


def explain_kill(project, command: list[str]) -> None:
    """One stderr line for an exit 137, which the command itself never explains."""
    import time

    from envtrack.container.engine import inspect
    from envtrack.container.health import oom_kills

    name = project.container_name
    container = inspect(project.engine, name)
    for _ in range(5):   # a container being killed still says "running" for a moment
        if container is None or not container.running:
            break
        time.sleep(0.1)
        container = inspect(project.engine, name)
    if container is None:
        why = f"{name} was removed meanwhile"
    elif not container.running:
        why = f"{name} is {container.describe_state()}"
    elif oom_kills(container):
        why = f"the kernel's OOM killer ended it: {name} ran out of memory"
    else:
        why = "it got SIGKILL (the OOM killer, or `kill -9`)"
    print(f"envtrack: `{command[0]}` was killed (exit 137): {why}", file=sys.stderr)


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
