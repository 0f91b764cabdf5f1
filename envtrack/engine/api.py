"""A few Engine API calls over the Unix socket with http.client.

The docker SDK costs ~80-150 ms to import; a build needs only image lookups, tags and
one commit, so it uses these instead.
"""

from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import quote, urlencode

from envtrack.endpoints import engine_socket
from envtrack.errors import EnvtrackError


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60):
        super().__init__("docker", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def request(method: str, path: str, params: dict | None = None, body: dict | None = None) -> tuple[int, object]:
    """One Engine API request; returns (HTTP status, decoded JSON body or None)."""
    url = path + (f"?{urlencode(params, doseq=True)}" if params else "")
    connection = _UnixConnection(engine_socket())
    try:
        connection.request(method, url, body=json.dumps(body).encode() if body is not None else None,
                           headers={"Content-Type": "application/json"})
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


def commit_config(image: str, repo: str, tag: str, changes: list[str]) -> str:
    """IMAGE with CHANGES (Dockerfile-style config instructions) as REPO:TAG; returns the new id.

    The container is created, never started, and removed: the commit adds no layer.
    """
    status, created = request("POST", "/containers/create", body={"Image": image, "Cmd": ["true"]})
    if status >= 300 or not isinstance(created, dict):
        raise EnvtrackError(f"cannot create a container from {image}: {created}")
    try:
        status, committed = request("POST", "/commit", {"container": created["Id"], "repo": repo, "tag": tag,
                                                         "changes": changes})
        if status >= 300 or not isinstance(committed, dict):
            raise EnvtrackError(f"cannot commit the image config of {repo}:{tag}: {committed}")
    finally:
        remove_container(created["Id"])
    return committed["Id"]


def remove_container(container_id: str) -> None:
    request("DELETE", f"/containers/{container_id}", {"force": "1"})


def remove_image(reference: str) -> None:
    request("DELETE", f"/images/{quote(reference, safe='')}", {"noprune": "1"})
