"""What the project's container must look like: pure, no I/O.

`container_spec` turns a project, its image and its plan into mounts, environment, ports
and labels; the fingerprint, stored as a label, tells `up` whether an existing container
still matches or must be recreated.

A remote Engine cannot bind-mount this machine's folders: there the state folder is a
named volume on the engine host and the project directory, the agent bundle and the CA
bundle are copied in (`copies`) instead of mounted.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from envtrack.agent.layout import AGENT_LOG, AGENT_MOUNT, STATE_MOUNT, WORKSPACE
from envtrack.hostca import CA_ENV_NAMES
from envtrack.project import Project

# A path of its own: installing Debian's ca-certificates in the container rewrites the default bundle.
CA_MOUNT = "/etc/envtrack/runtime-ca.pem"
FINGERPRINT_LABEL = "envtrack.container.fingerprint"
PROJECT_LABEL = "envtrack.project"
PROJECT_DIR_LABEL = "envtrack.project.dir"   # which directory owns it (not in the fingerprint)
PROCESS_LOGS = "/var/log/envtrack"   # init, daemon and entrypoint output inside the container

# The container's own system python3 runs the agent from the bundle (a venv's or conda's python
# may be replaced or removed by the user), if it is 3.8 or newer. None: the shell exits
# NO_PYTHON_EXIT and the host runs the agent in a companion container instead (companion.py).
# umask 077: the journal, its -wal/-shm, agent.json and agent.log are created 0600.
NO_PYTHON_EXIT = 127
AGENT_SHELL = (
    'umask 077; for p in /usr/bin/python3 /usr/local/bin/python3; do '
    '[ -x "$p" ] && "$p" -c "import sys; sys.exit(sys.version_info < (3, 8))" 2>/dev/null && '
    'exec env PYTHONPATH={bundle} "$p" -s -m envtrack.agent --state {state}{once} >>{log} 2>&1; '
    'done; echo "envtrack-agent: no system python3 >= 3.8 in the container" >>{log}; exit %d' % NO_PYTHON_EXIT
)


@dataclass(frozen=True)
class Mount:
    host: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class Copy:
    """A host file or folder copied to TARGET in the container (a folder's contents go under TARGET)."""

    host: str
    target: str
    skip: tuple[str, ...] = ()    # top-level names left out of a folder


@dataclass(frozen=True)
class PortMapping:
    container_port: str   # "8888/tcp"
    host_ip: str
    host_port: int


@dataclass(frozen=True)
class Runtime:
    """What build.envd asks of the running container (runtime.*, config.gpu/shm_size/jupyter/entrypoint)."""

    mounts: tuple[Mount, ...] = ()
    ports: tuple[PortMapping, ...] = ()
    gpus: int = 0                       # config.gpu: GPUs requested from the Engine
    shm_size_mb: int = 0                # config.shm_size; 0 keeps the Engine's default
    init: tuple[str, ...] = ()          # runtime.init: shell commands run once per start, in order
    daemons: tuple[str, ...] = ()       # runtime.daemon, config.jupyter: kept running
    entrypoint: tuple[str, ...] = ()    # config.entrypoint: started once per start
    dev_user: str = ""                  # base(dev=True): the user shell/exec/ssh run as, and an SSH server
    dev_owner: tuple[int, int] = (0, 0)  # that user's uid and gid
    rstudio: bool = False               # config.rstudio_server: RStudio Server kept running

    def main_command(self) -> list[str]:
        """The container's first process: runs init, supervises daemons (and a dev environment's
        SSH server), then waits."""
        if not (self.init or self.daemons or self.entrypoint or self.dev_user or self.rstudio):
            return ["sleep", "infinity"]
        lines = [f"mkdir -p {PROCESS_LOGS}",
                 'supervise() { log="$1"; shift; while :; do sh -c "$1" >>"$log" 2>&1; '
                 'echo "envtrack: exited with $?, restarting in 1 s" >>"$log"; sleep 1; done; }']
        if self.init:
            lines.append(f"( {' && '.join(self.init)} ) >>{PROCESS_LOGS}/init.log 2>&1 &")
        if self.dev_user:
            from envtrack.container.dev import SSHD_COMMAND

            lines.append(f"supervise {PROCESS_LOGS}/sshd.log {shlex.quote(SSHD_COMMAND)} &")
        if self.rstudio:
            lines.append(f"supervise {PROCESS_LOGS}/rstudio.log {shlex.quote(rstudio_command())} &")
        for number, command in enumerate(self.daemons, 1):
            lines.append(f"supervise {PROCESS_LOGS}/daemon-{number}.log {shlex.quote(command)} &")
        if self.entrypoint:
            lines.append(f"{shlex.join(self.entrypoint)} >>{PROCESS_LOGS}/entrypoint.log 2>&1 &")
        lines.append("exec sleep infinity")
        return ["/bin/sh", "-c", "\n".join(lines)]


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    image_id: str
    mounts: tuple[Mount, ...]
    environment: tuple[tuple[str, str], ...]
    ports: tuple[PortMapping, ...]
    labels: tuple[tuple[str, str], ...] = field(default=())
    runtime: Runtime = field(default=Runtime())
    copies: tuple[Copy, ...] = ()

    def fingerprint(self) -> str:
        facts = {"image_id": self.image_id, "mounts": [m.__dict__ for m in self.mounts],
                 "env": self.environment, "ports": [p.__dict__ for p in self.ports]}
        if self.runtime != Runtime():  # only then, so containers without runtime settings keep theirs
            facts["runtime"] = {"command": self.runtime.main_command(), "gpus": self.runtime.gpus,
                                "shm": self.runtime.shm_size_mb}
        if self.copies:  # only remote containers have them; local fingerprints stay as they were
            facts["copies"] = [c.target for c in self.copies]
        import hashlib

        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]

    def run_kwargs(self) -> dict[str, Any]:
        """Arguments for the docker SDK's containers.create."""
        import docker.types

        extra: dict[str, Any] = {}
        if self.runtime.gpus:
            extra["device_requests"] = [docker.types.DeviceRequest(count=self.runtime.gpus, capabilities=[["gpu"]])]
        if self.runtime.shm_size_mb:
            extra["shm_size"] = self.runtime.shm_size_mb * 1024 * 1024
        if self.runtime.entrypoint:
            extra["entrypoint"] = []   # the image's entrypoint runs under main_command instead
        return {
            **extra,
            "image": self.image,
            "name": self.name,
            "command": self.runtime.main_command(),
            "init": True,  # docker's init reaps the agent's and the user's orphans
            "detach": True,
            "working_dir": WORKSPACE,
            "volumes": {m.host: {"bind": m.target, "mode": "ro" if m.read_only else "rw"} for m in self.mounts},
            "environment": dict(self.environment),
            "ports": {p.container_port: (p.host_ip, p.host_port) for p in self.ports},
            "labels": dict(self.labels) | {FINGERPRINT_LABEL: self.fingerprint()},
        }


def runtime_of(steps, project_dir: Path, home: str, owner: tuple[int, int] = (0, 0),
               ssh: tuple[str, int] = ("127.0.0.1", 0)) -> Runtime:
    """The runtime settings of a plan's steps; host paths resolve against PROJECT_DIR and HOME;
    OWNER is the host user's uid and gid (a dev environment's user is named after it) and SSH
    the (address, port) its SSH server is published on (0: a free port)."""
    mounts, ports, daemons, init = [], [], [], []
    gpus = shm = 0
    entrypoint: tuple[str, ...] = ()
    dev = rstudio = False
    for step in steps:
        args = step.args
        if step.kind == "base":
            dev = bool(args.get("dev"))
        elif step.kind == "config.owner":
            owner = (int(args["uid"]), int(args["gid"]))
        elif step.kind == "runtime.mount":
            from envtrack.llb.envd import container_path  # llb/ loads the LLB stack: only when needed

            host = args["host_path"]
            host = home + host[1:] if host == "~" or host.startswith("~/") else host
            mounts.append(Mount(os.path.normpath(os.path.join(project_dir, host)), container_path(step, "envd_path")))
        elif step.kind == "runtime.init":
            init += args["commands"]
        elif step.kind == "runtime.daemon":
            daemons += [" ".join(argv) for argv in args["commands"]]   # envd joins them too: redirections work
        elif step.kind == "config.jupyter":
            from envtrack.llb.envd import JUPYTER_PORT

            daemons.append(jupyter_command(args["token"]))
            ports.append(PortMapping(f"{JUPYTER_PORT}/tcp", "127.0.0.1", int(args["port"])))
        elif step.kind == "config.rstudio_server":
            from envtrack.llb.toolchains import RSTUDIO_PORT

            rstudio = True
            ports.append(PortMapping(f"{RSTUDIO_PORT}/tcp", "127.0.0.1", 0))
        elif step.kind == "config.gpu":
            gpus = int(args["count"])
        elif step.kind == "config.shm_size":
            shm = int(args["size"])
        elif step.kind == "config.entrypoint":
            entrypoint = tuple(args["args"])
    dev_user = ""
    if dev:
        from envtrack.devenv import SSHD_PORT, dev_user as user_for

        dev_user = user_for(owner[0])
        ports.append(PortMapping(f"{SSHD_PORT}/tcp", *ssh))
    return Runtime(tuple(mounts), tuple(ports), gpus, shm, tuple(init), tuple(daemons), entrypoint, dev_user, owner,
                   rstudio)


def rstudio_command() -> str:
    """envd's `sudo rserver` (the environment runs as root here), kept in the foreground so the
    container's first process supervises it, as it does the dev environment's sshd."""
    from envtrack.llb.toolchains import RSERVER

    return f"exec {RSERVER} --server-daemonize=0"


def jupyter_command(token: str) -> str:
    """envd's notebook command; both token settings, so notebook 6 and 7 each find theirs."""
    from envtrack.llb.envd import JUPYTER_PORT

    quoted = shlex.quote(token)
    return (f"python3 -m notebook --ip 0.0.0.0 --notebook-dir {WORKSPACE} --port {JUPYTER_PORT} --allow-root "
            f"--no-browser --ServerApp.token={quoted} --NotebookApp.token={quoted}")


# Every step kind runtime_of and exposed_ports read: `up` remembers just these per envd digest
# (container/service.runtime_steps); tests/unit/test_container_spec_steps.py keeps the list whole.
RUNTIME_STEPS = ("runtime.mount", "runtime.init", "runtime.daemon", "config.jupyter", "config.gpu",
                 "config.shm_size", "config.entrypoint", "runtime.expose", "base", "config.owner",
                 "config.rstudio_server")


def exposed_ports(steps) -> tuple[PortMapping, ...]:
    """runtime.expose steps; no host_port means the same port number on the host."""
    ports = []
    for step in steps:
        if step.kind == "runtime.expose":
            port = int(step.args["envd_port"])
            ports.append(PortMapping(f"{port}/tcp", step.args.get("listen_addr") or "127.0.0.1",
                                     int(step.args.get("host_port") or port)))
    return tuple(ports)


def state_volume(project: Project) -> str:
    """The named volume that holds a remote container's state folder (journal, agent status, log)."""
    return project.names.volume


def container_spec(project: Project, image: str, image_id: str, steps, *, bundle_dir: Path,
                   host_ca: str | None, home: str = "~", remote: bool = False,
                   owner: tuple[int, int] = (0, 0), ssh: tuple[str, int] = ("127.0.0.1", 0)) -> ContainerSpec:
    runtime = runtime_of(steps, project.dir, home, owner, ssh)
    if remote:  # runtime.mount host paths name folders on the engine host, as `docker -v` does there
        mounts = [Mount(state_volume(project), STATE_MOUNT), *runtime.mounts]
        copies = [Copy(str(project.dir), WORKSPACE, skip=(project.state_dir.name,)),
                  Copy(str(bundle_dir), AGENT_MOUNT)] + ([Copy(host_ca, CA_MOUNT)] if host_ca else [])
    else:
        mounts = [Mount(str(project.dir), WORKSPACE), Mount(str(project.state_dir), STATE_MOUNT),
                  Mount(str(bundle_dir), AGENT_MOUNT, read_only=True), *runtime.mounts]
        mounts += [Mount(host_ca, CA_MOUNT, read_only=True)] if host_ca else []
        mounts += _agent_dir(project, runtime)
        copies = []
    environment = [(name, CA_MOUNT) for name in CA_ENV_NAMES] if host_ca else []
    return ContainerSpec(project.container_name, image, image_id, tuple(mounts), tuple(environment),
                         exposed_ports(steps) + runtime.ports, labels=_labels(project, runtime),
                         runtime=replace(runtime, mounts=(), ports=()), copies=tuple(copies))


def _labels(project: Project, runtime: Runtime) -> tuple[tuple[str, str], ...]:
    from envtrack.devenv import OWNER_LABEL, USER_LABEL

    dev = ((USER_LABEL, runtime.dev_user), (OWNER_LABEL, "%d:%d" % runtime.dev_owner)) if runtime.dev_user else ()
    return ((PROJECT_LABEL, project.name), (PROJECT_DIR_LABEL, str(project.dir))) + dev


def _agent_dir(project: Project, runtime: Runtime) -> list[Mount]:
    """A dev environment's folder for the host's SSH agent socket (its user cannot enter .envtrack/)."""
    if not runtime.dev_user:
        return []
    from envtrack.devenv import AGENT_DIR, HOST_AGENT_DIR

    return [Mount(str(project.state_dir / HOST_AGENT_DIR), AGENT_DIR)]


def agent_command(*, once: bool = False) -> list[str]:
    """The agent's command line; ONCE: reconcile with the live inventory, then exit."""
    script = AGENT_SHELL.format(bundle=AGENT_MOUNT, state=STATE_MOUNT, log=f"{STATE_MOUNT}/{AGENT_LOG}",
                                once=" --once" if once else "")
    return ["sh", "-c", script]
