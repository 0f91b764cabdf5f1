"""A directory served over HTTP where containers and build steps reach the host.

Tests stand a directory of their own in for a conda channel, a private package index or a
toolchain's upstream (support/downloads.py), served on the Docker bridge's gateway address:
BuildKit's HTTP source (in the host's namespace) and build steps (in a container's) both reach it.
"""

from __future__ import annotations

import http.server
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

GATEWAY = "172.17.0.1"   # docker0's address: containers (and build steps) reach the host here


@contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """DIRECTORY served on a free port of GATEWAY until the block ends; yields its base URL."""
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(directory))  # noqa: E731
    server = http.server.ThreadingHTTPServer((GATEWAY, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{GATEWAY}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
