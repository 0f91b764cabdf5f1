"""A Unix-socket relay to the BuildKit embedded in the Docker Engine.

grpcio can only dial addresses, but the Engine serves BuildKit's API behind an HTTP
upgrade on its own API connection (`POST /grpc`, `Upgrade: h2c`), whatever carries it: a
Unix socket, TCP, TLS or an ssh `dial-stdio` stream (envtrack.dial). The relay listens on
a private Unix socket; for each connection grpcio opens, it dials the Engine, performs the
upgrade, forwards whatever arrived after the `101` header (often the Engine's first
HTTP/2 SETTINGS frame: dropping it stalls the connection), then copies bytes both ways.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
from pathlib import Path

from envtrack.dial import dial, splice
from envtrack.endpoints import EngineEndpoint
from envtrack.errors import EnvtrackError

UPGRADE_REQUEST = (b"POST /grpc HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n"
                   b"Upgrade: h2c\r\nContent-Length: 0\r\n\r\n")
CHUNK = 65536


class EngineRelay:
    """Serve `unix://<dir>/buildkit.sock` until closed; use as a context manager."""

    def __init__(self, engine: EngineEndpoint):
        self.engine = engine
        self._dir = tempfile.mkdtemp(prefix="envtrack-relay-")
        self.path = str(Path(self._dir) / "buildkit.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._closed = threading.Event()

    @property
    def address(self) -> str:
        return f"unix://{self.path}"

    def __enter__(self) -> "EngineRelay":
        os.chmod(self._dir, 0o700)
        self._listener.bind(self.path)
        os.chmod(self.path, 0o600)
        self._listener.listen(16)
        threading.Thread(target=self._accept_loop, name="envtrack-relay", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._closed.set()
        self._listener.close()
        for path in (self.path, self._dir):
            try:
                os.remove(path) if path == self.path else os.rmdir(path)
            except OSError:
                pass

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            engine, leftover = upgrade(self.engine)
        except (OSError, EnvtrackError):
            client.close()
            return
        if leftover:
            client.sendall(leftover)
        splice(client, engine)


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
