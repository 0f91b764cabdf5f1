"""The Docker Engine connection every command shares."""

from __future__ import annotations

from functools import lru_cache

from envtrack.endpoints import engine_socket
from envtrack.errors import EnvtrackError


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
