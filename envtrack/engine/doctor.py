"""`envtrack doctor`: each check says what it found and the exact command that fixes it."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from envtrack.endpoints import engine_socket
from envtrack.hostca import host_ca_path
from envtrack.project import BASE_IMAGE

SETUP = "envtrack engine setup"
BASE_RECIPE_LABEL = "envtrack.base.recipe"
MIN_FREE_BYTES = 5 * 1024**3
SETUP_SCRIPT = Path(__file__).resolve().parent / "setup-engine.sh"
MIN_ENGINE = (20, 10)  # the first Engine that serves BuildKit's control API on /grpc


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
    """BuildKit answers a real gRPC call (Control.ListWorkers) through the same client builds use."""
    from envtrack.buildkit.client import connect
    from envtrack.errors import EnvtrackError

    try:
        with connect() as buildkit:
            workers = [worker_of(record) for record in buildkit.list_workers()]
    except EnvtrackError as error:
        return Check("buildkit", False, error.message, _BUILDKIT_FIX)
    except OSError as error:
        return Check("buildkit", False, f"ListWorkers: {error}", _BUILDKIT_FIX)
    if not workers:
        return Check("buildkit", False, "BuildKit reports no workers", _BUILDKIT_FIX)
    return Check("buildkit", True, "BuildKit answers over gRPC: " + "; ".join(map(str, workers)))


_BUILDKIT_FIX = "envtrack engine setup   # Docker Engine >= 20.10; or pass --builder ADDR of a buildkitd"


@dataclass(frozen=True)
class Worker:
    id: str
    platforms: tuple[str, ...]

    def __str__(self) -> str:
        return f"worker {self.id} ({', '.join(self.platforms) or 'no platforms'})"


def worker_of(record) -> Worker:
    return Worker(record.ID, tuple(f"{p.OS}/{p.Architecture}" for p in record.platforms))


def parse_workers(data: bytes) -> list[Worker]:
    """Read a serialized ListWorkersResponse."""
    from google.protobuf.message import DecodeError

    from envtrack.pb.control_pb2 import ListWorkersResponse

    try:
        return [worker_of(record) for record in ListWorkersResponse.FromString(data).record]
    except DecodeError as error:
        raise ValueError(f"malformed ListWorkersResponse: {error}") from None


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
    path = Path(host_ca_path())
    if path.is_file() and b"BEGIN CERTIFICATE" in path.read_bytes()[:65536]:
        return Check("ca-bundle", True, f"{path} is injected into fetching build steps and containers")
    return Check("ca-bundle", False, f"{path} missing", "apt-get install -y ca-certificates")


def check_proxy() -> Check:
    names = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
    found = [f"{n}={os.environ.get(n) or os.environ.get(n.lower())}" for n in names
             if os.environ.get(n) or os.environ.get(n.lower())]
    return Check("proxy", True, ", ".join(found) if found else "no proxy variables set (passed to builds when set)")
