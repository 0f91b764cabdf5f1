"""`envtrack exec`: a command in the project's container, as fast as `docker exec`.

Kept apart from container/service.py so that running a command loads nothing else.
"""

from __future__ import annotations

import sys

from envtrack.agent.layout import WORKSPACE
from envtrack.endpoints import EngineEndpoint
from envtrack.engine import api


def exec_stream(endpoint: EngineEndpoint, name: str, command: list[str], *, user: str | None = None,
                env: list[str] | None = None) -> int:
    """Run COMMAND in container NAME on the Engine at ENDPOINT from the workspace, streaming its
    output here; its exit code.

    Straight over the Engine API (create, attach, inspect), the round trips `docker exec`
    makes; a container that is absent or stopped is reported as not running.
    """
    outputs = {1: sys.stdout.buffer, 2: sys.stderr.buffer}

    def write(stream: int, data: bytes) -> None:
        target = outputs.get(stream, sys.stdout.buffer)
        target.write(data)
        target.flush()

    sys.stdout.flush()
    code, _ = api.exec_run(endpoint, name, command, workdir=WORKSPACE, on_output=write, user=user, env=env)
    return code
