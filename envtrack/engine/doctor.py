"""`envtrack doctor`: each check says what it found and the exact command that fixes it."""

from __future__ import annotations

import os
import re
import shutil
import socket
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from envtrack.engine.docker import engine_socket
from envtrack.project import BASE_IMAGE

SETUP = "envtrack engine setup"
BASE_RECIPE_LABEL = "envtrack.base.recipe"
MIN_FREE_BYTES = 5 * 1024**3
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
SETUP_SCRIPT = Path(__file__).resolve().parent / "setup-engine.sh"
MIN_ENGINE = (20, 10)  # the first Engine that serves BuildKit's control API on /grpc
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HTTP2_SETTINGS = 0x4


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def to_json(self) -> dict:
        return asdict(self)


ENGINE_CHECKS = ("storage-driver", "buildkit", "base-image", "disk")  # need an answering engine


def run_checks() -> list[Check]:
    """Every check, always the same names in the same order (scripts read `--json`)."""
    engine, client, info = check_engine()
    if client is None:
        checks = [engine, *(Check(name, False, "engine unreachable", SETUP) for name in ENGINE_CHECKS)]
    else:
        checks = [engine, check_storage(info), check_buildkit(), check_base_image(client), check_disk(info)]
    return checks + [check_ca(), check_proxy()]


def check_engine() -> tuple[Check, object | None, dict]:
    """The engine check, plus the docker SDK client and `docker info` when it answered."""
    try:
        import docker

        client = docker.DockerClient(base_url=f"unix://{engine_socket()}", timeout=10)
        info = client.info()
    except Exception as error:  # noqa: BLE001 - any failure means: no engine to talk to
        return Check("engine", False, f"no answer at {engine_socket()}: {type(error).__name__}", SETUP), None, {}
    version = str(info.get("ServerVersion", "?"))
    detail = f"Docker Engine {version} at {engine_socket()}"
    if engine_version(version) < MIN_ENGINE:
        return Check("engine", False, f"{detail}: older than 20.10", UPGRADE_ENGINE), client, info
    return Check("engine", True, detail), client, info


UPGRADE_ENGINE = "apt-get install -y docker.io   # Debian 12 or newer ships Engine >= 20.10"
OVERLAY2 = 'set "storage-driver": "overlay2" in /etc/docker/daemon.json, then restart dockerd'


def engine_version(version: str) -> tuple[int, int]:
    """(major, minor) of a version such as "20.10.24+dfsg1" or "26.1.5"; (0, 0) when unreadable."""
    match = re.match(r"(\d+)\.(\d+)", version)
    return (int(match[1]), int(match[2])) if match else (0, 0)


def check_storage(info: dict) -> Check:
    driver = info.get("Driver", "?")
    ok = driver in ("overlay2", "overlayfs", "btrfs", "zfs", "fuse-overlayfs")
    return Check("storage-driver", ok, driver, "" if ok else OVERLAY2)


def check_buildkit() -> Check:
    """BuildKit answers a real gRPC call (Control.ListWorkers) through the Engine's /grpc endpoint.

    Without the gRPC client (a partial install), an h2c upgrade answered by an HTTP/2 server suffices.
    """
    try:
        from envtrack.buildkit.relay import EngineRelay
    except ImportError:
        return _check_h2c_upgrade()
    import grpc

    try:
        with EngineRelay(engine_socket()) as relay, grpc.insecure_channel(relay.address) as channel:
            list_workers = channel.unary_unary(LIST_WORKERS)  # bytes in, bytes out: no stubs needed
            workers = parse_workers(list_workers(b"", timeout=10))
    except grpc.RpcError as error:
        return Check("buildkit", False, f"ListWorkers failed: {error.code().name} {error.details()}", _BUILDKIT_FIX)
    except (OSError, ValueError) as error:
        return Check("buildkit", False, f"ListWorkers: {error}", _BUILDKIT_FIX)
    if not workers:
        return Check("buildkit", False, "BuildKit reports no workers", _BUILDKIT_FIX)
    return Check("buildkit", True, "BuildKit answers over gRPC: " + "; ".join(map(str, workers)))


LIST_WORKERS = "/moby.buildkit.v1.Control/ListWorkers"


@dataclass(frozen=True)
class Worker:
    id: str
    platforms: tuple[str, ...]

    def __str__(self) -> str:
        return f"worker {self.id} ({', '.join(self.platforms) or 'no platforms'})"


def parse_workers(data: bytes) -> list[Worker]:
    """Read a serialized ListWorkersResponse: 1 record (WorkerRecord: 1 ID, 3 platforms (1 arch, 2 os))."""
    workers = []
    for field, record in _fields(data):
        if field != 1:
            continue
        worker_id, platforms = "", []
        for number, value in _fields(record):
            if number == 1:
                worker_id = value.decode(errors="replace")
            elif number == 3:
                platform = dict(_fields(value))
                platforms.append(f"{platform.get(2, b'?').decode()}/{platform.get(1, b'?').decode()}")
        workers.append(Worker(worker_id, tuple(platforms)))
    return workers


def _fields(data: bytes):
    """(field number, bytes) for each length-delimited field of a protobuf message; other wire types skipped."""
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        wire_type = key & 7
        if wire_type == 2:
            size, position = _varint(data, position)
            yield key >> 3, data[position:position + size]
            position += size
        elif wire_type == 0:
            _, position = _varint(data, position)
        elif wire_type in (1, 5):
            position += 8 if wire_type == 1 else 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}")


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(data):
            raise ValueError("truncated protobuf varint")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, position


def _check_h2c_upgrade() -> Check:
    try:
        first_frame = _grpc_first_frame(engine_socket())
    except (OSError, ValueError) as error:
        return Check("buildkit", False, f"/grpc on {engine_socket()}: {error}", _BUILDKIT_FIX)
    if first_frame != HTTP2_SETTINGS:
        return Check("buildkit", False, f"/grpc answered HTTP/2 frame type {first_frame}, not SETTINGS", _BUILDKIT_FIX)
    return Check("buildkit", True, "the Engine's /grpc endpoint speaks HTTP/2 (gRPC client not installed)")


_BUILDKIT_FIX = "envtrack engine setup   # Docker Engine >= 20.10; or pass --builder ADDR of a buildkitd"


def _grpc_first_frame(path: str) -> int:
    """Upgrade a connection on the Engine socket to h2c and return the type of the server's first frame."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(path)
        sock.sendall(b"POST /grpc HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n"
                     b"Upgrade: h2c\r\nContent-Length: 0\r\n\r\n")
        received = _read_until(sock, b"\r\n\r\n")
        head, _, rest = received.partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0].decode(errors="replace")
        if status.split(" ")[1:2] != ["101"]:
            raise ValueError(f"answered {status!r}, expected 101 Switching Protocols")
        sock.sendall(HTTP2_PREFACE)
        # The server's SETTINGS frame often arrives together with the 101 header.
        frame_header = rest + _read_exactly(sock, max(0, 9 - len(rest)))
        return frame_header[3]


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ValueError("connection closed during the upgrade")
        data += chunk
        if len(data) > 65536:
            raise ValueError("no end of the HTTP header")
    return data


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ValueError("connection closed before the first HTTP/2 frame")
        data += chunk
    return data


def check_base_image(client) -> Check:
    import docker

    try:
        image = client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        return Check("base-image", False, f"{BASE_IMAGE} missing", SETUP)
    return base_image_check((image.labels or {}).get(BASE_RECIPE_LABEL), current_recipe())


def base_image_check(recipe: str | None, wanted: str) -> Check:
    if not recipe:
        return Check("base-image", False, f"{BASE_IMAGE} was not made by envtrack (no recipe label)", SETUP)
    if recipe != wanted:
        return Check("base-image", False, f"{BASE_IMAGE} has recipe {recipe}, setup now makes {wanted}", SETUP)
    return Check("base-image", True, f"{BASE_IMAGE} (recipe {recipe}, current)")


@lru_cache(maxsize=1)
def current_recipe() -> str:
    """The recipe version the shipped setup script builds (its `RECIPE="N"` line)."""
    match = re.search(r'^RECIPE="([^"]+)"', SETUP_SCRIPT.read_text(), re.MULTILINE)
    if not match:
        raise RuntimeError(f"{SETUP_SCRIPT} has no RECIPE line")
    return match[1]


def check_disk(info: dict) -> Check:
    root = info.get("DockerRootDir") or "/var/lib/docker"
    free = shutil.disk_usage(root if os.path.exists(root) else "/").free
    ok = free >= MIN_FREE_BYTES
    return Check("disk", ok, f"{free / 1024**3:.1f} GiB free under {root}",
                 "" if ok else "docker builder prune -af && docker image prune -f   # build cache and untagged images")


def check_ca() -> Check:
    path = Path(os.environ.get("ENVTRACK_CA_BUNDLE", HOST_CA))
    if path.is_file() and b"BEGIN CERTIFICATE" in path.read_bytes()[:65536]:
        return Check("ca-bundle", True, f"{path} is injected into fetching build steps and containers")
    return Check("ca-bundle", False, f"{path} missing", "apt-get install -y ca-certificates")


def check_proxy() -> Check:
    names = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
    found = [f"{n}={os.environ.get(n) or os.environ.get(n.lower())}" for n in names
             if os.environ.get(n) or os.environ.get(n.lower())]
    return Check("proxy", True, ", ".join(found) if found else "no proxy variables set (passed to builds when set)")
