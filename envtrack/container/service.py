"""What the CLI calls for `up`, `down`, `status`, `shell`: one function per action (`exec` needs only
container/run.py and container/health.py, and loads nothing of this module)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from envtrack.container.dev import ssh_listen
from envtrack.container.engine import ContainerInfo, ensure_container, inspect
from envtrack.container.health import agent_health
from envtrack.container.identity import adopt_legacy
from envtrack.container.supervise import ensure_agent, reconcile_once, stop_agent
from envtrack.container.spec import FINGERPRINT_LABEL, container_spec, state_volume
from envtrack.container.state import journal_for
from envtrack.errors import EnvtrackError, Position
from envtrack.hostca import host_ca_path
from envtrack.project import Project
from envtrack.statedir import ensure_state_dir


def host_ca_bundle() -> str | None:
    path = host_ca_path()
    return path if os.path.isfile(path) else None


RUNTIME_CACHE = "runtime-steps.json"  # in .envtrack/: the steps that shape the container, per envd digest


@dataclass(frozen=True)
class UpOutcome:
    container: ContainerInfo
    verb: str        # "created" | "recreated" | "started" | "reused"


@dataclass(frozen=True)
class UpResult:
    image: str
    outcome: UpOutcome
    agent: str       # a short description for the user
    ssh: str = ""    # how to log in to a dev environment ("" for others)
    ssh_warning: str = ""   # why a dev environment has no SSH login (the environment itself works)


def _client(project: Project):
    from envtrack.engine.docker import docker_client

    return docker_client(project.engine)


def up(project: Project, *, progress: str = "auto", host_ca: bool = True, build: bool = True,
       locked: bool = False, lock: str | None = None, pull: bool = False, image: str | None = None) -> UpResult:
    """Everything `envtrack up` does: the image to run (IMAGE, a pulled one, instead of a build),
    the container, the agent."""
    project = adopt_legacy(project)
    reads: dict[str, bytes] = {}   # the envd files read, once: by the build, then for the runtime steps
    image, image_id = (image, None) if image else image_for(project, progress=progress, build=build, locked=locked,
                                                            lock=lock, pull=pull, reads=reads)
    outcome = ensure_running(project, image, image_id=image_id, host_ca=host_ca, reads=reads)
    agent = start_agent(project, outcome.container)
    try:
        return UpResult(image, outcome, agent, enable_ssh(project, outcome.container, reused=outcome.verb == "reused"))
    except EnvtrackError as error:
        hint = f" ({error.hint})" if error.hint else ""
        return UpResult(image, outcome, agent, ssh_warning=f"warning: no SSH login: {error.message}{hint}")


@dataclass(frozen=True)
class UpReport:
    """What `envtrack up` did: the project, the container and agent, the apt lists' note, and
    (when asked for) the status it ended in."""

    project: Project
    result: UpResult
    apt_note: str = ""
    status: dict | None = None


def up_project(file: str | None, *, progress: str = "auto", host_ca: bool = True, build: bool = True,
               locked: bool = False, lock: str | None = None, pull: bool = False, image: str | None = None,
               on_ready=None, with_status: bool = False) -> UpReport:  # noqa: ANN001 - on_ready: (Project, UpResult) -> None
    """Everything `envtrack up [FILE]` does: the project opened, its state writable before a build
    that could take minutes, then under the project lock the image, the container and the agent
    (ON_READY(project, result) is told at once, before the apt lists are refreshed in a container
    that is not reused), and with WITH_STATUS the status it ended in."""
    from envtrack.project import open_project
    from envtrack.statedir import project_lock

    if locked:   # `up --locked team.lock`: the lock may come as FILE
        from envtrack.snapshot.locked import split_up_arguments

        file, lock = split_up_arguments(file, lock)
    project = open_project(file)
    project.require_writable_state("envtrack up")
    with project_lock(project.state_dir, "up"):
        result = up(project, progress=progress, host_ca=host_ca, build=build, locked=locked, lock=lock, pull=pull,
                    image=image)
        if on_ready is not None:
            on_ready(project, result)
        # A reused container had its lists refreshed when it was created.
        apt_note = "" if result.outcome.verb == "reused" else refresh_apt_lists(project, result.outcome.container)
    return UpReport(project, result, apt_note, status(project) if with_status else None)


def enable_ssh(project: Project, container: ContainerInfo, *, reused: bool) -> str:
    """A dev environment's SSH server accepts envtrack's key and `ssh PROJECT.envtrack` reaches
    it (an entry in envtrack's ssh_config); a reused container keeps what it was given."""
    from envtrack.devenv import USER_LABEL

    user = container.labels.get(USER_LABEL)
    if not user:
        return ""
    from envtrack import sshconfig
    from envtrack.container.dev import authorize_key, published_port, ssh_route
    from envtrack.engine import api

    alias = sshconfig.host_alias(project.name)
    if reused and sshconfig.has_entry(alias):
        return f"ssh {alias}"
    private, public = sshconfig.key_pair()
    authorize_key(project.engine, container.id, public)
    port = published_port(api.inspect_container(project.engine, container.id) or {})
    if port is None:
        raise EnvtrackError(f"the Engine published no port for the SSH server of {project.container_name}")
    host, jump = ssh_route(project.engine.host, ssh_listen()[0])
    sshconfig.write_entry(alias, sshconfig.entry(alias, host=host, port=port, user=user, identity=private, jump=jump))
    return f"ssh {alias}"


def ssh_argv(project: Project, command: list[str]) -> list[str]:
    """`envtrack ssh`: the ssh command line for the project's entry in envtrack's ssh_config."""
    from envtrack import sshconfig

    alias = sshconfig.host_alias(project.name)
    if not sshconfig.has_entry(alias):
        raise EnvtrackError(f"no SSH entry for {project.container_name}",
                            hint="start a dev environment (base(dev=True)) with `envtrack up`")
    return ["ssh", "-F", str(sshconfig.config_path()), alias, *command]


def image_for(project: Project, *, progress: str, build: bool, locked: bool = False,
              lock: str | None = None, pull: bool = False,
              reads: dict[str, bytes] | None = None) -> tuple[str, str | None]:
    """The image `up` runs and its id when known: the lock's build with --locked, the last
    built image with --no-build, else a build (answered from the stamp when nothing changed)."""
    if locked:
        from envtrack.snapshot.locked import build_locked, resolve_lock_path

        result = build_locked(project, resolve_lock_path(project, lock), progress=progress)
        return result.image, result.image_id
    if not build:
        return f"{project.image_repo}:latest", None
    from envtrack.solve.service import build_project

    result = build_project(project, progress=progress, pull=pull, reads=reads)
    return result.image, result.image_id


def ensure_running(project: Project, image: str, *, image_id: str | None = None, host_ca: bool = True,
                   reads: dict[str, bytes] | None = None) -> UpOutcome:
    """Start or reuse the project's container for IMAGE; a different image or config recreates it.

    A running container whose fingerprint matches is answered from one inspect; the docker
    SDK is loaded only to create, start or replace one.
    """
    from envtrack.container.bundle import prepare_bundle
    from envtrack.engine import api

    if image_id is None:
        found = api.inspect_image(project.engine, image)
        if found is None:
            raise EnvtrackError(f"image {image} is not in the Engine's image store", hint="run `envtrack build`")
        image_id = found["Id"]
    ensure_state_dir(project.state_dir)
    spec = container_spec(project, image, image_id, runtime_steps(project, reads), bundle_dir=prepare_bundle(),
                          host_ca=host_ca_bundle() if host_ca else None, home=os.path.expanduser("~"),
                          remote=not project.engine.is_local, owner=(os.getuid(), os.getgid()), ssh=ssh_listen())
    if spec.runtime.dev_user and not spec.copies:
        from envtrack.container.dev import prepare_agent_dir

        prepare_agent_dir(project.state_dir, spec.runtime.dev_owner)
    current = None if spec.copies else inspect(project.engine, spec.name)  # a remote workspace is copied in each time
    if current is not None and current.running and current.labels.get(FINGERPRINT_LABEL) == spec.fingerprint():
        return UpOutcome(current, "reused")
    container, action = ensure_container(_client(project), spec)
    return UpOutcome(inspect(project.engine, spec.name) or ContainerInfo.from_inspect(container.attrs),
                     "reused" if action == "running" else action)


def runtime_steps(project: Project, reads: dict[str, bytes] | None = None):
    """The plan's steps that shape the container (ports), remembered per envd digest so an
    unchanged project does not evaluate build.envd again. READS: the envd files `up`'s build
    read (absolute path -> bytes), taken as read."""
    from envtrack.solve.stamp import envd_reads, file_digest
    from envtrack.container.spec import RUNTIME_STEPS
    from envtrack.fsutil import write_atomic

    cache = project.state_dir / RUNTIME_CACHE
    reads = {} if reads is None else reads   # as a build's: each envd file read once, and evaluated as read
    digest = file_digest(project.envd_file, reads)
    try:
        recorded = json.loads(cache.read_text())
        if recorded["envd"] == digest and recorded.get("kinds") == list(RUNTIME_STEPS) and all(file_digest(p, reads) == d for p, d in recorded["sources"].items()):
            return tuple(_CachedStep(kind, args, Position(*where)) for kind, args, where in recorded["steps"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    from envtrack.frontend import load_plan

    plan = load_plan(project.envd_file, given=envd_reads(reads, project.envd_file))
    steps = tuple(_CachedStep(s.kind, dict(s.args), s.position) for s in plan.steps if s.kind in RUNTIME_STEPS)
    sources = plan.digests   # the bytes evaluated, the same fingerprint as the build stamp's
    try:
        write_atomic(cache, json.dumps({"envd": digest, "sources": sources, "kinds": list(RUNTIME_STEPS),
                                        "steps": [[s.kind, s.args, list(s.position)] for s in steps]},
                                       sort_keys=True))
    except (OSError, TypeError):
        pass  # the cache only saves time
    return steps


@dataclass(frozen=True)
class _CachedStep:
    """The part of a frontend Step that container_spec reads."""

    kind: str
    args: dict
    position: Position


def start_agent(project: Project, container: ContainerInfo) -> str:
    """Start the agent unless it runs; a short description for the user.

    In an environment without a system python3 >= 3.8 the agent runs in a companion
    container instead (companion.py); without the companion's image, live recording is off
    and the description says so and why.
    """
    from envtrack.container.supervise import NoPythonError

    try:
        health, started = ensure_agent(project, container)
    except NoPythonError as error:
        return _start_companion(project, container, error.message)
    return f"{'started' if started else 'running'} (pid {health.pid})"


def _start_companion(project: Project, info: ContainerInfo, why: str) -> str:
    from envtrack.container.companion import agent_image, companion_spec
    from envtrack.container.engine import replace_container
    from envtrack.container.supervise import wait_for_agent
    from envtrack.engine import registry
    from envtrack.journal.db import utc_now

    client = _client(project)
    container = client.containers.get(info.id)   # a rare path: the SDK's objects serve it
    try:
        registry.ensure(project.engine, agent_image(), where="the companion agent's image")
    except EnvtrackError as error:
        reconcile_from_host(project, info)
        return (f"off: live recording is off ({why.removeprefix('envtrack-agent: ')}, and the companion agent "
                f"image is missing: {error.message}); `sync` and `snapshot` reconcile against the baseline")
    spec = companion_spec(project, container)
    since = utc_now()
    companion = replace_container(client, spec.run_kwargs())

    def exit_code() -> int | None:
        companion.reload()
        if companion.status not in ("exited", "dead"):
            return None
        return int(companion.attrs["State"]["ExitCode"]) or 1   # exiting at all is a failure here

    health = wait_for_agent(project, info, since, exit_code, timeout=60.0)
    return f"started in companion container {spec.name} (pid {health.pid}; the environment has no python3)"


def reconcile_from_host(project: Project, info: ContainerInfo) -> int:
    """Without any agent: journal what changed since the last look, from records copied out of
    the container (dpkg, apt, conda: what an environment without python3 can hold). The first
    look takes the baseline. The number of changes journaled."""
    import contextlib
    import tempfile

    from envtrack.agent.layout import AGENT_LOG
    from envtrack.agent.run import Agent
    from envtrack.container.companion import env_hostname
    from envtrack.snapshot.sources import copy_records

    container = _client(project).containers.get(info.id)
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
    from envtrack.journal import db as journal_db

    try:
        if journal_db.query(project.journal_path, journal_db.recorder, None) != "host":
            return 0   # an agent keeps it (an older journal without the meta table too)
    except journal_db.JournalError as error:
        raise EnvtrackError(str(error)) from None
    container = inspect(project.engine, project.container_name)
    if container is None or not container.running:
        return 0
    return reconcile_from_host(project, container)


def refresh_apt_lists(project: Project, container: ContainerInfo) -> str:
    """`apt-get update` in a container whose image has no package lists, so `apt-get install
    NAME` works at once (builds keep the lists in a cache mount, outside the image).

    A short note for the user: empty when nothing had to be done; a failure (no network) is
    a warning, never a failed `up`.
    """
    script = ("command -v apt-get >/dev/null || exit 0; ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1 && exit 0; "
              "out=$(apt-get update -q 2>&1) && exit 10; printf '%s' \"$out\" | tail -n 1; exit 11")
    from envtrack.engine import api

    code, output = api.exec_run(project.engine, container.id, ["sh", "-c", script])
    if code == 10:
        return "apt package lists refreshed"
    if code == 0:
        return ""
    return f"warning: apt-get update failed, `apt-get install` needs it first: {(output or b'').decode(errors='replace').strip()}"


def require_running(project: Project) -> ContainerInfo:
    container = inspect(project.engine, project.container_name)
    if container is None or not container.running:
        raise EnvtrackError(f"{project.container_name} is not running", hint="start it with `envtrack up`")
    return container


@dataclass(frozen=True)
class RemoveOutcome:
    removed: bool
    reconciled: int | None     # changes journaled by the last reconcile; None when it could not run
    warning: str | None = None


def remove(project: Project) -> RemoveOutcome:
    """`envtrack down`: under the project lock (so `up` cannot interleave), reconcile (the agent may
    have died, or not scanned the last change yet), then remove the container."""
    from envtrack.statedir import project_lock

    with project_lock(project.state_dir, "down"):
        return _remove(project)


def _remove(project: Project) -> RemoveOutcome:
    from envtrack.engine import api

    project = adopt_legacy(project)
    container = inspect(project.engine, project.container_name)
    if container is None:
        return RemoveOutcome(False, 0)
    reconciled, warning = None, None
    try:
        reconciled = _final_reconcile(project, container)
    except EnvtrackError as error:
        warning = f"changes since the agent's last scan are not journaled: {error.message}"
    from envtrack.container.companion import companion_name

    companion = inspect(project.engine, companion_name(project))   # ends with the container anyway
    if companion is not None:
        api.remove_container(project.engine, companion.id)
    api.remove_container(project.engine, container.id)
    from envtrack import sshconfig

    sshconfig.remove_entry(sshconfig.host_alias(project.name))
    return RemoveOutcome(True, reconciled, warning)


def _final_reconcile(project: Project, container: ContainerInfo) -> int:
    """Stop the agent and run it once, so the live inventory is journaled before the container goes."""
    if not container.running:
        container = _start(project, container)
    before = change_counts(project)["total"]
    stop_agent(project, container, agent_health(project, container))
    reconcile_once(project, container)
    return change_counts(project)["total"] - before


def _start(project: Project, container: ContainerInfo) -> ContainerInfo:
    from envtrack.engine import api

    status, body = api.request(project.engine, "POST", f"/containers/{container.id}/start")
    started = inspect(project.engine, project.container_name) if status in (204, 304) else None
    if started is None or not started.running:
        raise EnvtrackError(f"cannot start {project.container_name} to reconcile its changes ({status})")
    return started


def exec_capture(project: Project, command: list[str]) -> tuple[int, bytes]:
    from envtrack.engine import api

    return api.exec_run(project.engine, project.container_name, command)


def shell_command(project: Project) -> list[str]:
    """The login shell to open in the container: bash when it has one, else sh."""
    has_bash = exec_capture(project, ["sh", "-c", "command -v bash"])[0] == 0
    return ["bash", "-l"] if has_bash else ["sh", "-l"]


def _state_detail(container: ContainerInfo | None) -> str:
    """How the container is, with what the kernel's OOM killer did to it."""
    if container is None:
        return "absent"
    from envtrack.container.health import oom_kills

    kills = oom_kills(container) if container.running else 0
    if kills:
        return f"{container.status}; the OOM killer ended {kills} process(es) in it: it ran out of memory"
    return container.describe_state()


def change_counts(project: Project) -> dict:
    """Recorded changes and, per package table (baseline, inventory), how many packages it holds."""
    from envtrack.journal import db as journal_db

    def counted(db) -> dict:  # noqa: ANN001
        counts = journal_db.change_counts(db)
        counts.update({f"{table}_packages": sum(journal_db.count_packages(db, table).values())
                       for table in journal_db.PACKAGE_TABLES})
        return counts

    try:
        return journal_db.query(journal_for(project), counted, {"total": 0, "requested": 0, "reconciled": 0})
    except journal_db.JournalError as error:
        raise EnvtrackError(str(error)) from None


def status(project: Project, container: ContainerInfo | None = None) -> dict:
    """What `status` shows; CONTAINER when the caller has just inspected it."""
    from envtrack.llb.image_config import images_of

    container = container or inspect(project.engine, project.container_name)
    if container is None:   # perhaps a pre-identity container, renamed to this project's name now
        project = adopt_legacy(project)
        container = inspect(project.engine, project.container_name)
    health = agent_health(project, container)
    endpoints = project.endpoints
    return {
        "project": project.name,
        "container": project.container_name,
        "state": container.status if container is not None else "absent",
        "state_detail": _state_detail(container),
        "oom_killed": container.oom_killed if container is not None else False,
        "image": container.image if container is not None else None,
        "images": images_of(container.labels) if container is not None else {},
        "agent": health.summary(),
        "agent_detail": health.to_json(),
        "changes": change_counts(project),
        "journal": str(project.journal_path),
        "journal_home": (f"volume {state_volume(project)} on {endpoints.engine.display}"
                         if not endpoints.engine.is_local else str(project.state_dir)),
        "engine": endpoints.engine.describe(),
        "builder": endpoints.builder.describe(),
        "context": endpoints.context,
        "ports": dict(container.ports) if container is not None else {},
        "services": services_of(container),
    }


def services_of(container: ContainerInfo | None) -> dict[str, str]:
    """The web services build.envd asked for (config.jupyter, config.rstudio_server) and the URL
    each answers at on the Engine's host, as envd's `envd envs ls` shows them."""
    ports = dict(container.ports) if container is not None and container.running else {}
    if not ports:
        return {}
    from envtrack.llb.envd import JUPYTER_PORT   # llb/ loads the LLB stack: only when needed
    from envtrack.llb.toolchains import RSTUDIO_PORT

    named = {"jupyter": f"{JUPYTER_PORT}/tcp", "rstudio": f"{RSTUDIO_PORT}/tcp"}
    return {name: f"http://{ports[port]}" for name, port in named.items() if port in ports}
