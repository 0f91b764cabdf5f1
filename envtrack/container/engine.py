"""The project's container in the Engine: inspect it over the Engine API (cheap, no SDK),
create, start and remove it through the docker SDK.

`exec` and `log` import this module to inspect the container, so it loads neither the
container's spec nor dataclasses nor typing until a container is to be created.
"""

from __future__ import annotations

import os
from collections import namedtuple
from pathlib import Path

from envtrack.errors import EnvtrackError

TYPE_CHECKING = False   # typing.TYPE_CHECKING without importing typing (checkers read it the same)
if TYPE_CHECKING:
    import tarfile
    from typing import Any

    from envtrack.container.spec import ContainerSpec, Copy
    from envtrack.endpoints import EngineEndpoint


class ContainerInfo(namedtuple("ContainerInfo", "name id status image hostname labels pid oom_killed exit_code ports",
                               defaults=(False, 0, ()))):
    """What the commands read about a container, from one inspect (not a dataclass: see
    envtrack.errors.Position): name, id, status (running | exited | created | ...), image (the
    reference it was created from), hostname, labels (dict), pid (its init process on the
    Engine's host; 0 when not running), oom_killed (the kernel killed it for memory),
    exit_code (its last exit) and ports (("8787/tcp", "127.0.0.1:49153"), ... : each published
    container port and where the Engine's host listens for it, while it runs)."""

    __slots__ = ()

    @classmethod
    def from_inspect(cls, document: dict) -> "ContainerInfo":
        config, state = document.get("Config") or {}, document.get("State") or {}
        return cls(document.get("Name", "").lstrip("/"), document["Id"], state.get("Status", "unknown"),
                   config.get("Image") or "", config.get("Hostname") or "", dict(config.get("Labels") or {}),
                   int(state.get("Pid") or 0), bool(state.get("OOMKilled")), int(state.get("ExitCode") or 0),
                   published_ports(document))

    def describe_state(self) -> str:
        """`running`, or how it ended: `exited (OOM-killed: out of memory)`, `exited (code 137: killed)`."""
        if self.running or self.status == "created":
            return self.status
        if self.oom_killed:
            return f"{self.status} (OOM-killed: it ran out of memory)"
        if self.exit_code == 137:
            return f"{self.status} (code 137: killed)"
        return f"{self.status} (code {self.exit_code})" if self.exit_code else self.status

    @property
    def running(self) -> bool:
        return self.status == "running"


def published_ports(document: dict) -> tuple[tuple[str, str], ...]:
    """(container port, host address:port) for each binding the Engine made, in port order."""
    bindings = (document.get("NetworkSettings") or {}).get("Ports") or {}
    return tuple(sorted((port, f"{b.get('HostIp') or '0.0.0.0'}:{b['HostPort']}")
                        for port, found in bindings.items() for b in (found or ()) if b.get("HostPort")))


def inspect(endpoint: EngineEndpoint, name: str) -> ContainerInfo | None:
    from envtrack.engine import api

    document = api.inspect_container(endpoint, name)
    return None if document is None else ContainerInfo.from_inspect(document)


def find_container(client, name: str):
    import docker

    try:
        return client.containers.get(name)
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as error:
        raise EnvtrackError(f"cannot inspect container {name}: {error.explanation or error}") from None


def ensure_container(client, spec: ContainerSpec) -> tuple[Any, str]:
    """The running container for SPEC and what it took: running | started | created | recreated."""
    import docker

    from envtrack.container.spec import FINGERPRINT_LABEL

    existing = find_container(client, spec.name)
    action = "created"
    if existing is not None:
        if existing.labels.get(FINGERPRINT_LABEL) == spec.fingerprint():
            copy_in(existing, spec.copies)  # a remote workspace gets the host's newer files
            if existing.status == "running":
                return existing, "running"
            call_engine(existing.start, f"cannot start container {spec.name}")
            existing.reload()
            return existing, "started"
        call_engine(lambda: existing.remove(force=True), f"cannot remove the outdated container {spec.name}")
        action = "recreated"
    try:
        container = client.containers.create(**spec.run_kwargs())
        copy_in(container, spec.copies)  # before start: the agent's code must be there
        container.start()
    except docker.errors.APIError as error:
        raise EnvtrackError(f"cannot start container {spec.name}: {error.explanation or error}") from None
    container.reload()
    return container, action


def call_engine(function, message: str) -> None:
    import docker

    try:
        function()
    except docker.errors.APIError as error:
        raise EnvtrackError(f"{message}: {error.explanation or error}") from None


def copy_in(container, copies: tuple[Copy, ...]) -> None:
    """Copy COPIES into CONTAINER (created or running) in one archive through the Engine API."""
    if not copies:
        return
    call_engine(lambda: _put(container, archive(copies)), f"cannot copy files into {container.name}")


def _put(container, data: bytes) -> None:
    if not container.put_archive("/", data):
        raise EnvtrackError(f"the Engine refused the files for {container.name}")


def archive(copies: tuple[Copy, ...]) -> bytes:
    """A tar rooted at / holding every copy; folders with their parents, owned by root."""
    import io
    import tarfile  # only remote Engines copy files in: `status` and `exec` do without it

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for copy in copies:
            source = Path(copy.host)
            target = copy.target.lstrip("/")
            _add_parents(tar, target)
            if source.is_dir():
                _add_tree(tar, source, target, copy.skip)
            else:
                tar.add(str(source), arcname=target, filter=_as_root)
    return buffer.getvalue()


def _add_parents(tar: "tarfile.TarFile", target: str) -> None:
    import tarfile

    parts = Path(target).parts[:-1]
    for depth in range(1, len(parts) + 1):
        info = tarfile.TarInfo("/".join(parts[:depth]))
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)


def _add_tree(tar: tarfile.TarFile, source: Path, target: str, skip: tuple[str, ...]) -> None:
    tar.add(str(source), arcname=target, recursive=False, filter=_as_root)
    for entry in sorted(os.scandir(source), key=lambda e: e.name):
        if entry.name in skip or entry.name == "__pycache__":
            continue
        if entry.is_dir(follow_symlinks=False):
            _add_tree(tar, Path(entry.path), f"{target}/{entry.name}", ())
        else:
            tar.add(entry.path, arcname=f"{target}/{entry.name}", recursive=False, filter=_as_root)


def _as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def replace_container(client, kwargs: dict[str, Any]):
    """Create and start a container from KWARGS, removing any old one of the same name first."""
    import docker

    old = find_container(client, kwargs["name"])
    if old is not None:
        call_engine(lambda: old.remove(force=True), f"cannot remove the old container {kwargs['name']}")
    try:
        container = client.containers.create(**kwargs)
        container.start()
    except docker.errors.APIError as error:
        raise EnvtrackError(f"cannot start container {kwargs['name']}: {error.explanation or error}") from None
    return container
