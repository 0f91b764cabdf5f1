"""The Docker Engine connection every command shares."""

from __future__ import annotations

import os
from functools import lru_cache

from envtrack.errors import EnvtrackError

DEFAULT_SOCKET = "/var/run/docker.sock"


def engine_socket() -> str:
    """Path of the Engine's Unix socket (DOCKER_HOST=unix://... or the default)."""
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        return host[len("unix://"):]
    if host:
        raise EnvtrackError(f"DOCKER_HOST={host}: only unix:// engine sockets are supported", exit_code=2)
    return DEFAULT_SOCKET


@lru_cache(maxsize=1)
def docker_client():
    """A docker SDK client that has answered a ping, or a one-line error naming the fix."""
    import docker

    try:
        client = docker.DockerClient(base_url=f"unix://{engine_socket()}", timeout=600)
        client.ping()
    except Exception as error:  # noqa: BLE001 - any failure means: unreachable
        raise EnvtrackError(
            f"cannot reach the Docker Engine at {engine_socket()} ({type(error).__name__})",
            hint="run `envtrack doctor` (or `envtrack engine setup` to start it)",
        ) from None
    return client
