"""A Unix-socket relay to the BuildKit embedded in the Docker Engine.

grpcio can only dial addresses, but the Engine serves BuildKit's API behind an HTTP
upgrade on its own API connection (`POST /grpc`, `Upgrade: h2c`), whatever carries it: a
Unix socket, TCP, TLS or an ssh `dial-stdio` stream (envtrack.dial). The relay listens on
a private Unix socket; for each connection grpcio opens, it dials the Engine, performs the
upgrade, forwards whatever arrived after the `101` header (often the Engine's first
HTTP/2 SETTINGS frame: dropping it stalls the connection), then copies bytes both ways.
"""

from __future__ import annotations

import socket

from envtrack.dial import LocalForward, dial
from envtrack.endpoints import EngineEndpoint
from envtrack.errors import EnvtrackError

UPGRADE_REQUEST = (b"POST /grpc HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n"
                   b"Upgrade: h2c\r\nContent-Length: 0\r\n\r\n")
CHUNK = 65536


class EngineRelay(LocalForward):
    """Serve `unix://<dir>/buildkit.sock` (BuildKit's gRPC) until closed; use as a context manager."""

    def __init__(self, engine: EngineEndpoint):
        super().__init__(lambda: upgrade(engine), "buildkit.sock")
        self.engine = engine


def upgrade(endpoint: EngineEndpoint) -> tuple[socket.socket, bytes]:
    """Dial the Engine and switch the connection to HTTP/2; returns it and the bytes read past the header."""
    engine = dial(endpoint, timeout=60)
    engine.sendall(UPGRADE_REQUEST)
    received = b""
    while b"\r\n\r\n" not in received:
        data = engine.recv(CHUNK)
        if not data:
            engine.close()
            raise EnvtrackError("the Docker Engine closed the /grpc upgrade")
        received += data
    header, leftover = received.split(b"\r\n\r\n", 1)
    status = header.split(b"\r\n", 1)[0]
    if b" 101 " not in status + b" ":
        engine.close()
        raise EnvtrackError(f"the Docker Engine refused the BuildKit upgrade: {status.decode(errors='replace')}")
    engine.settimeout(None)  # a build may be quiet for long; the gRPC channel has its own deadlines
    return engine, leftover
