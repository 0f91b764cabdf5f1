"""`envtrack shell` and `envtrack exec`: a shell or a command in the project's container, run as
the dev environment's user (unless root) with the host's SSH agent forwarded.

On the exec path (tests/unit/test_lean_imports.py): what only a shell, a relay or a killed
command needs is imported where it is needed.
"""

from __future__ import annotations

import os
import sys

from envtrack.errors import EnvtrackError
from envtrack.project import open_project

KILLED_EXIT = 128 + 9   # SIGKILL: the OOM killer's signal, and `docker kill`'s


def run_command(file: str | None, command: list[str], root: bool, on_warning) -> int:
    """Run COMMAND in the project's container, streaming its output; its exit code. A stopped
    agent is restarted (which reconciles) and ON_WARNING told so in one line."""
    if not command:
        raise EnvtrackError("nothing to run: envtrack exec -- CMD [ARGS]", exit_code=2)
    from envtrack.container.health import check_agent
    from envtrack.container.recording import agent_warning

    project = open_project(file)
    check = check_agent(project)
    warning = agent_warning(project, check)
    if warning:
        on_warning(warning)
    return _run(project, command, *_identity(project, check.container, root, on_warning))


def open_shell(file: str | None, root: bool, on_warning) -> int:
    """An interactive login shell in the project's container. With the docker CLI at hand this
    process becomes it (a real terminal: raw mode, resizes); otherwise the shell is streamed."""
    from envtrack.agent.layout import WORKSPACE
    from envtrack.container.service import require_running, shell_command

    project = open_project(file)
    container = require_running(project)
    command = shell_command(project)
    user, env, relay = _identity(project, container, root, on_warning)
    docker = "/usr/bin/docker"
    if os.path.exists(docker):
        tty = ["-it"] if sys.stdin.isatty() and sys.stdout.isatty() else ["-i"]
        options = (["-u", user] if user else []) + [word for pair in env for word in ("-e", pair)]
        sys.stdout.flush()
        os.execve(docker, [docker, "exec", *tty, *options, "-w", WORKSPACE, project.container_name, *command],
                  {**os.environ, **project.engine.docker_env()})   # the relay follows the docker CLI
    return _run(project, command, user, env, relay)


def _identity(project, container, root: bool, on_warning) -> tuple[str | None, list[str], int | None]:
    """Who a shell or command runs as (a dev environment's user unless ROOT), the environment
    that forwards the host's SSH agent into it, and the pid of that agent's relay."""
    labels = container.labels if container is not None else {}
    user = "root" if root else labels.get("envtrack.dev.user")   # devenv.USER_LABEL, read without importing
    host_socket = os.environ.get("SSH_AUTH_SOCK")
    if not host_socket or container is None or not project.engine.is_local:
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
        on_warning("warning: cannot forward the SSH agent (no socket in the state folder)")
        return user, [], None
    return user, [f"SSH_AUTH_SOCK={relay[0]}"], relay[1]


def _run(project, command: list[str], user: str | None, env: list[str], relay: int | None) -> int:
    from envtrack.container.run import exec_stream

    try:
        code = exec_stream(project.engine, project.container_name, command, user=user, env=env)
        if code == KILLED_EXIT:
            print(f"envtrack: `{command[0]}` was killed (exit 137): {why_killed(project)}", file=sys.stderr)
        return code
    finally:
        if relay is not None:
            from envtrack.container.agent_relay import stop_relay

            stop_relay(relay)


def why_killed(project) -> str:
    """Why a command ended with exit 137, which the command itself never explains."""
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
        return f"{name} was removed meanwhile"
    if not container.running:
        return f"{name} is {container.describe_state()}"
    if oom_kills(container):
        return f"the kernel's OOM killer ended it: {name} ran out of memory"
    return "it got SIGKILL (the OOM killer, or `kill -9`)"
