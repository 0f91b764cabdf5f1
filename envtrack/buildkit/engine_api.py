"""A few Engine API calls over the Unix socket with http.client.

The docker SDK costs ~150 ms to import; the cached-rebuild path needs only an image
lookup and a tag, so it uses these instead.
"""

from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import quote, urlencode

from envtrack.engine.docker import engine_socket
from envtrack.errors import EnvtrackError


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60):
        super().__init__("docker", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def request(method: str, path: str, params: dict | None = None) -> tuple[int, object]:
    """One Engine API request; returns (HTTP status, decoded JSON body or None)."""
    url = path + (f"?{urlencode(params)}" if params else "")
    connection = _UnixConnection(engine_socket())
    try:
        connection.request(method, url, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        body = response.read()
    except OSError as error:
        raise EnvtrackError(f"cannot reach the Docker Engine at {engine_socket()} ({error})",
                            hint="run `envtrack doctor`") from None
    finally:
        connection.close()
    try:
        return response.status, json.loads(body) if body else None
    except ValueError:
        return response.status, None


def inspect_image(reference: str) -> dict | None:
    status, body = request("GET", f"/images/{quote(reference, safe='')}/json")
    return body if status == 200 and isinstance(body, dict) else None


def tag_image(reference: str, repo: str, tag: str) -> None:
    status, body = request("POST", f"/images/{quote(reference, safe='')}/tag", {"repo": repo, "tag": tag})
    if status >= 300:
        raise EnvtrackError(f"cannot tag {reference} as {repo}:{tag}: {body}")


def engine_version() -> str:
    status, body = request("GET", "/version")
    return body.get("Version", "") if status == 200 and isinstance(body, dict) else ""
