"""The project's container through the docker SDK: find, create, start, exec, remove."""

from __future__ import annotations

from typing import Any

from envtrack.container.spec import FINGERPRINT_LABEL, ContainerSpec
from envtrack.errors import EnvtrackError


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

    existing = find_container(client, spec.name)
    action = "created"
    if existing is not None:
        if existing.labels.get(FINGERPRINT_LABEL) == spec.fingerprint():
            if existing.status == "running":
                return existing, "running"
            call_engine(existing.start, f"cannot start container {spec.name}")
            existing.reload()
            return existing, "started"
        call_engine(lambda: existing.remove(force=True), f"cannot remove the outdated container {spec.name}")
        action = "recreated"
    try:
        container = client.containers.create(**spec.run_kwargs())
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
