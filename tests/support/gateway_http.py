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


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list | None = None   # where each request's path is noted, when a test asks

    def send_head(self):
        if self.requests is not None:
            self.requests.append(self.path)
        return super().send_head()


@contextmanager
def serve_directory(directory: Path, requests: list | None = None) -> Iterator[str]:
    """DIRECTORY served on a free port of GATEWAY until the block ends; yields its base URL.
    REQUESTS, when given, gets the path of each request made (GET and HEAD)."""
    handler_class = type("Handler", (_Handler,), {"requests": requests})
    handler = lambda *a: handler_class(*a, directory=str(directory))  # noqa: E731
    server = http.server.ThreadingHTTPServer((GATEWAY, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{GATEWAY}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
