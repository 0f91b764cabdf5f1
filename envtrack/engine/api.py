"""The Engine API calls envtrack makes itself, over whichever transport the Engine has
(envtrack.dial), with engine/wire.py's small HTTP/1.1 reader.

The docker SDK costs ~80-150 ms to import; builds, `status`, `exec` and a repeated `up`
need only inspects, tags, one commit and exec, so they use these instead. Each takes the
Engine it talks to (a project's `engine`, or what `resolve_for` chose for a command without one).
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

from envtrack.dial import dial, failure_detail
from envtrack.endpoints import EngineEndpoint
from envtrack.engine import wire
from envtrack.errors import EnvtrackError


class Unreachable(Exception):
    """No HTTP answer; the text says why in a few words (ssh's own when ssh was in the way)."""


def _exchange(method: str, url: str, body: bytes | None, endpoint: EngineEndpoint,
              headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    sock = None
    try:
        sock = dial(endpoint, 60)
        status, _, data = wire.exchange(sock, method, url, body, {"Content-Type": "application/json", **(headers or {})})
        return status, data
    except OSError as error:
        raise Unreachable(failure_detail(sock, error)) from None
    finally:
        if sock is not None:
            sock.close()


def ping(endpoint: EngineEndpoint) -> str | None:
    """None when the Engine answers /_ping, else why not."""
    try:
        status, _ = _exchange("GET", "/_ping", None, endpoint)
    except Unreachable as error:
        return str(error)
    return None if status == 200 else f"/_ping answered HTTP {status}"


def request(endpoint: EngineEndpoint, method: str, path: str, params: dict | None = None,
            body: dict | None = None, headers: dict[str, str] | None = None) -> tuple[int, object]:
    """One Engine API request; returns (HTTP status, decoded JSON body or None)."""
    url = path + (f"?{urlencode(params, doseq=True)}" if params else "")
    try:
        status, data = _exchange(method, url, json.dumps(body).encode() if body is not None else None, endpoint,
                                 headers)
    except Unreachable as error:
        raise EnvtrackError(f"cannot reach the Docker Engine at {endpoint.display} ({error})",
                            hint="run `envtrack doctor`") from None
    return status, _json_or_none(data)


def stream_json(endpoint: EngineEndpoint, method: str, path: str, params: dict, headers: dict[str, str],
                on_message) -> tuple[int, object]:
    """A request whose answer streams JSON messages (pull, push): each is handed to ON_MESSAGE as
    it arrives. Returns (HTTP status, the decoded body of an answer that is not 2xx, else None)."""
    url = path + (f"?{urlencode(params, doseq=True)}" if params else "")
    sock = None
    try:
        sock = dial(endpoint, None)   # no timeout: a large pull takes as long as it takes
        wire.send_request(sock, method, url, None, {"Content-Type": "application/json", **headers})
        reader = wire.Reader(sock)
        status, fields = wire.read_head(reader)
        if status >= 300:
            data = b"".join(wire.iter_body(reader, fields))
            return status, _json_or_none(data)
        pending = b""
        for chunk in wire.iter_body(reader, fields):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in filter(bytes.strip, lines):
                on_message(_json_or_none(line) or {})
        if pending.strip():
            on_message(_json_or_none(pending) or {})
        return status, None
    except OSError as error:
        raise EnvtrackError(f"cannot reach the Docker Engine at {endpoint.display} ({failure_detail(sock, error)})",
                            hint="run `envtrack doctor`") from None
    finally:
        if sock is not None:
            sock.close()


def _json_or_none(data: bytes) -> object:
    try:
        return json.loads(data) if data else None
    except ValueError:
        return None


def inspect_image(endpoint: EngineEndpoint, reference: str) -> dict | None:
    status, body = request(endpoint, "GET", f"/images/{quote(reference, safe='')}/json")
    return body if status == 200 and isinstance(body, dict) else None


def tag_image(endpoint: EngineEndpoint, reference: str, repo: str, tag: str) -> None:
    status, body = request(endpoint, "POST", f"/images/{quote(reference, safe='')}/tag", {"repo": repo, "tag": tag})
    if status >= 300:
        raise EnvtrackError(f"cannot tag {reference} as {repo}:{tag}: {body}")


def engine_version(endpoint: EngineEndpoint) -> str:
    status, body = request(endpoint, "GET", "/version")
    return body.get("Version", "") if status == 200 and isinstance(body, dict) else ""


def engine_arch(endpoint: EngineEndpoint) -> str:
    """The Engine's architecture in Go's names (amd64, arm64): what its builds download for."""
    status, body = request(endpoint, "GET", "/version")
    return body.get("Arch", "") if status == 200 and isinstance(body, dict) else ""


def remove_container(endpoint: EngineEndpoint, container_id: str) -> None:
    request(endpoint, "DELETE", f"/containers/{container_id}", {"force": "1"})


def remove_image(endpoint: EngineEndpoint, reference: str) -> None:
    request(endpoint, "DELETE", f"/images/{quote(reference, safe='')}", {"noprune": "1"})


def inspect_container(endpoint: EngineEndpoint, name: str) -> dict | None:
    """The container's inspect document, or None when there is no such container."""
    status, body = request(endpoint, "GET", f"/containers/{quote(name, safe='')}/json")
    if status == 404:
        return None
    if status != 200 or not isinstance(body, dict):
        raise EnvtrackError(f"cannot inspect container {name}: {_message(body, status)}")
    return body


class NotRunning(EnvtrackError):
    """The container is absent or stopped, so nothing can run in it."""


def exec_run(endpoint: EngineEndpoint, container: str, command: list[str], *, workdir: str | None = None,
             on_output=None, user: str | None = None, env: list[str] | None = None) -> tuple[int, bytes]:
    """Run COMMAND in CONTAINER; (exit code, stdout+stderr) or, with ON_OUTPUT(stream, bytes)
    (1 stdout, 2 stderr), the output handed over as it arrives and b"" returned.

    Three round trips, as the docker CLI makes them: create, start with the connection
    hijacked for the output stream (no TTY: frames of an 8-byte header and a payload), inspect.
    """
    exec_id = _exec_create(endpoint, container, command, workdir, attach=True, user=user, env=env)
    collected: list[bytes] = []
    sink = on_output or (lambda stream, data: collected.append(data))
    _exec_start_attached(endpoint, exec_id, sink)
    status, body = request(endpoint, "GET", f"/exec/{exec_id}/json")
    code = body.get("ExitCode") if status == 200 and isinstance(body, dict) else None
    return (126 if code is None else int(code)), b"".join(collected)


def exec_detached(endpoint: EngineEndpoint, container: str, command: list[str]) -> str:
    """Start COMMAND in CONTAINER and return at once (the agent keeps running on its own); its exec id."""
    exec_id = _exec_create(endpoint, container, command, None, attach=False)
    status, body = request(endpoint, "POST", f"/exec/{exec_id}/start", body={"Detach": True, "Tty": False})
    if status >= 300:
        raise EnvtrackError(f"cannot start {command[0]} in {container}: {_message(body, status)}")
    return exec_id


def exec_exit_code(endpoint: EngineEndpoint, exec_id: str) -> int | None:
    """The exit code of a finished exec; None while it runs (or when the Engine does not say)."""
    status, body = request(endpoint, "GET", f"/exec/{exec_id}/json")
    if status != 200 or not isinstance(body, dict) or body.get("Running") or body.get("ExitCode") is None:
        return None
    return int(body["ExitCode"])


def _exec_create(endpoint: EngineEndpoint, container: str, command: list[str], workdir: str | None, *,
                 attach: bool, user: str | None = None, env: list[str] | None = None) -> str:
    config = {"Cmd": command, "AttachStdout": attach, "AttachStderr": attach, "Tty": False}
    if workdir:
        config["WorkingDir"] = workdir
    if user:
        config["User"] = user
    if env:
        config["Env"] = env
    status, body = request(endpoint, "POST", f"/containers/{quote(container, safe='')}/exec", body=config)
    if status in (404, 409):  # no such container / not running
        raise NotRunning(f"{container} is not running", hint="start it with `envtrack up`")
    if status >= 300 or not isinstance(body, dict):
        raise EnvtrackError(f"cannot run {command[0]} in {container}: {_message(body, status)}")
    return body["Id"]


def _exec_start_attached(endpoint: EngineEndpoint, exec_id: str, sink) -> None:
    payload = json.dumps({"Detach": False, "Tty": False}).encode()
    sock = None
    try:
        sock = dial(endpoint, None)  # no timeout: the command may run for hours
        wire.send_request(sock, "POST", f"/exec/{exec_id}/start", payload,
                          {"Content-Type": "application/json", "Upgrade": "tcp"})
        stream = wire.Reader(sock)
        status, _ = wire.read_head(stream)
        if status not in (101, 200):
            raise EnvtrackError(f"cannot start exec {exec_id[:12]}: HTTP {status}")
        _demultiplex(stream, sink)
    except OSError as error:
        raise EnvtrackError(f"cannot reach the Docker Engine at {endpoint.display} "
                            f"({failure_detail(sock, error)})", hint="run `envtrack doctor`") from None
    finally:
        if sock is not None:
            sock.close()


def _demultiplex(stream, sink) -> None:
    """The Engine's multiplexed stream: [stream, 0, 0, 0, size (4 bytes, big-endian)] + payload."""
    while True:
        header = stream.read(8)
        if len(header) < 8:
            return
        size = int.from_bytes(header[4:8], "big")
        data = stream.read(size)
        if data:
            sink(header[0], data)


def _message(body: object, status: int) -> str:
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return f"HTTP {status}"
