"""Which Docker Engine and which BuildKit a command talks to: the one home of that choice.

Both the Engine client (`envtrack.engine`) and the BuildKit client (`envtrack.buildkit`)
read it, so neither package has to import the other to find its peer.
"""

from __future__ import annotations

import os

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


def builder_address(builder: str | None) -> str | None:
    """The standalone buildkitd address, or None for the Engine's embedded BuildKit."""
    return builder or os.environ.get("ENVTRACK_BUILDKIT_HOST") or None
