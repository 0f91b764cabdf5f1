"""`envtrack doctor`: each check says what it found and the exact command that fixes it."""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from envtrack.engine.docker import engine_socket
from envtrack.project import BASE_IMAGE

SETUP = "envtrack engine setup"
BASE_RECIPE_LABEL = "envtrack.base.recipe"
MIN_FREE_BYTES = 5 * 1024**3
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def to_json(self) -> dict:
        return asdict(self)


def run_checks() -> list[Check]:
    engine = check_engine()
    checks = [engine[0]]
    client, info = engine[1], engine[2]
    if client is None:
        checks += [Check(name, False, "engine unreachable", SETUP) for name in ("buildkit", "base-image", "disk")]
    else:
        checks += [check_storage(info), check_buildkit(), check_base_image(client), check_disk(info)]
    checks += [check_ca(), check_proxy()]
    return checks


def check_engine():
    try:
        import docker

        client = docker.DockerClient(base_url=f"unix://{engine_socket()}", timeout=10)
        info = client.info()
    except Exception as error:  # noqa: BLE001
        return Check("engine", False, f"no answer at {engine_socket()}: {type(error).__name__}", SETUP), None, None
    return Check("engine", True, f"Docker Engine {info.get('ServerVersion')} at {engine_socket()}"), client, info


def check_storage(info: dict) -> Check:
    driver = info.get("Driver", "?")
    ok = driver in ("overlay2", "overlayfs", "btrfs", "zfs", "fuse-overlayfs")
    return Check("storage-driver", ok, driver, "" if ok else "configure dockerd with \"storage-driver\": \"overlay2\"")


def check_buildkit() -> Check:
    """The Engine's embedded BuildKit answers the /grpc upgrade (see shared notes)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(engine_socket())
            sock.sendall(b"POST /grpc HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n"
                         b"Upgrade: h2c\r\nContent-Length: 0\r\n\r\n")
            status = sock.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace")
    except OSError as error:
        return Check("buildkit", False, f"engine socket: {error}", SETUP)
    ok = " 101 " in f"{status} "
    return Check("buildkit", ok, "embedded BuildKit answers /grpc" if ok else f"/grpc answered {status!r}",
                 "" if ok else "use Docker Engine >= 20.10, or pass --builder ADDR of a buildkitd")


def check_base_image(client) -> Check:
    import docker

    try:
        image = client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        return Check("base-image", False, f"{BASE_IMAGE} missing", SETUP)
    recipe = (image.labels or {}).get(BASE_RECIPE_LABEL)
    if not recipe:
        return Check("base-image", False, f"{BASE_IMAGE} was not made by envtrack", SETUP)
    return Check("base-image", True, f"{BASE_IMAGE} (recipe {recipe})")


def check_disk(info: dict) -> Check:
    root = info.get("DockerRootDir") or "/var/lib/docker"
    free = shutil.disk_usage(root if os.path.exists(root) else "/").free
    ok = free >= MIN_FREE_BYTES
    return Check("disk", ok, f"{free / 1024**3:.1f} GiB free under {root}",
                 "" if ok else "docker system prune -af   # or free disk space")


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
