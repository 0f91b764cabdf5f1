"""A few Engine API calls with http.client, over whichever transport the Engine has (envtrack.dial).

The docker SDK costs ~80-150 ms to import; a build needs only image lookups, tags and
one commit, so it uses these instead.
"""

from __future__ import annotations

import http.client
import json
from urllib.parse import quote, urlencode

from envtrack.dial import dial, failure_detail
from envtrack.endpoints import EngineEndpoint, engine
from envtrack.errors import EnvtrackError


class _EngineConnection(http.client.HTTPConnection):
    def __init__(self, endpoint: EngineEndpoint, timeout: float = 60):
        super().__init__("docker", timeout=timeout)
        self._endpoint = endpoint
        self.dialed = None   # kept past http.client's own close, to ask ssh what went wrong

    def connect(self) -> None:
        self.sock = self.dialed = dial(self._endpoint, self.timeout)


class Unreachable(Exception):
    """No HTTP answer; the text says why in a few words (ssh's own when ssh was in the way)."""


def _exchange(method: str, url: str, body: bytes | None, endpoint: EngineEndpoint) -> tuple[int, bytes]:
    connection = _EngineConnection(endpoint)
    try:
        connection.request(method, url, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException) as error:
        raise Unreachable(failure_detail(connection.dialed, error)) from None
    finally:
        connection.close()


def ping() -> str | None:
    """None when the Engine answers /_ping, else why not."""
    try:
        status, _ = _exchange("GET", "/_ping", None, engine())
    except Unreachable as error:
        return str(error)
    return None if status == 200 else f"/_ping answered HTTP {status}"


def request(method: str, path: str, params: dict | None = None, body: dict | None = None) -> tuple[int, object]:
    """One Engine API request; returns (HTTP status, decoded JSON body or None)."""
    url = path + (f"?{urlencode(params, doseq=True)}" if params else "")
    endpoint = engine()
    try:
        status, data = _exchange(method, url, json.dumps(body).encode() if body is not None else None, endpoint)
    except Unreachable as error:
        raise EnvtrackError(f"cannot reach the Docker Engine at {endpoint.display} ({error})",
                            hint="run `envtrack doctor`") from None
    try:
        return status, json.loads(data) if data else None
    except ValueError:
        return status, None


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
