"""`envtrack doctor`: each check says what it found and the exact command that fixes it."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from envtrack.endpoints import EngineEndpoint, resolve_for
from envtrack.errors import EnvtrackError
from envtrack.hostca import host_ca_path
from envtrack.project import BASE_IMAGE

SETUP = "envtrack engine setup"
BASE_RECIPE_LABEL = "envtrack.base.recipe"
MIN_FREE_BYTES = 5 * 1024**3
SETUP_SCRIPT = Path(__file__).resolve().parent / "setup-engine.sh"
MIN_ENGINE = (20, 10)  # the first Engine that serves BuildKit's control API on /grpc


def setup_argv(engine_only: bool, base: str | None) -> list[str]:
    """The setup script's command line for `engine setup [--engine-only] [--base SUITE,...]`."""
    suites = [suite.strip() for suite in (base or "").split(",") if suite.strip()]
    return ["bash", str(SETUP_SCRIPT), *(["--engine-only"] if engine_only else []),
            *(f"--base={suite}" for suite in suites)]


def setup_engine(engine_only: bool, base: str | None) -> int:
    """Run the setup script (idempotent; its own output is the user's); its exit status."""
    import subprocess

    return subprocess.call(setup_argv(engine_only, base))


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def to_json(self) -> dict:
        return asdict(self)


ENGINE_CHECKS = ("storage-driver", "buildkit", "base-image", "disk")  # need an answering engine


def run_checks(start: Path, builder: str | None = None) -> list[Check]:
    """Every check, always the same names in the same order (scripts read `--json`).

    They check the Engine and builder a command at START would use (`endpoints.resolve_for`:
    the working directory's project, if any, then the user's settings); settings that cannot
    be read fail the engine check with their one-line message, a bad BUILDER the buildkit check.
    """
    try:
        endpoint = resolve_for(start).engine
    except EnvtrackError as error:
        failed = Check("engine", False, error.message, "fix the setting named above, or `envtrack context ls`")
        return [failed, *(Check(name, False, "engine unknown", failed.fix) for name in ENGINE_CHECKS),
                check_ca(), check_proxy(), check_mirrors(), check_downloads(start)]
    engine_check, client, info = check_engine(endpoint)
    fix = SETUP if endpoint.is_local else _REMOTE_FIX
    if client is None:
        checks = [engine_check, *(Check(name, False, "engine unreachable", fix) for name in ENGINE_CHECKS)]
    else:
        checks = [engine_check, check_storage(info), check_buildkit(start, builder), check_base_image(client, fix),
                  check_disk(info, endpoint)]
    return checks + [check_ca(), check_proxy(), check_mirrors(), check_downloads(start)]


_REMOTE_FIX = "check the remote Engine's address and certificates (`envtrack context ls`), then run " \
              "`envtrack engine setup` on the engine host"


def check_engine(endpoint: EngineEndpoint) -> tuple[Check, object | None, dict]:
    """The engine check, plus the docker SDK client and `docker info` when it answered."""
    from envtrack.engine.api import ping
    from envtrack.engine.docker import sdk_client

    fix = SETUP if endpoint.is_local else _REMOTE_FIX
    reason = ping(endpoint)  # envtrack's own transport first: a short reason when nothing answers
    if reason is not None:
        return Check("engine", False, f"no answer at {endpoint.describe()}: {reason}", fix), None, {}
    try:
        client = sdk_client(endpoint, timeout=10)
        info = client.info()
    except Exception as error:  # noqa: BLE001 - any failure means: no engine to talk to
        return Check("engine", False, f"no answer at {endpoint.describe()}: {_reason(error)}", fix), None, {}
    version = str(info.get("ServerVersion", "?"))
    detail = f"Docker Engine {version} at {endpoint.describe()}"
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


def _reason(error: BaseException) -> str:
    """One line for an SDK failure: the exception's name and its first line, never a traceback."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__


def check_buildkit(start: Path, builder: str | None = None) -> Check:
    """BuildKit answers a real gRPC call (Control.ListWorkers) through the same client builds use."""
    from envtrack.buildkit.client import connect

    try:
        with connect(resolve_for(start, builder)) as buildkit:
            workers = [worker_of(record) for record in buildkit.list_workers()]
    except EnvtrackError as error:
        return Check("buildkit", False, error.message, _BUILDKIT_FIX)
    except OSError as error:
        return Check("buildkit", False, f"ListWorkers: {error}", _BUILDKIT_FIX)
    if not workers:
        return Check("buildkit", False, "BuildKit reports no workers", _BUILDKIT_FIX)
    where = buildkit.description
    return Check("buildkit", True, f"BuildKit ({where}) answers over gRPC: " + "; ".join(map(str, workers)))


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


def check_base_image(client, fix: str = SETUP) -> Check:
    import docker

    try:
        image = client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        return Check("base-image", False, f"{BASE_IMAGE} missing", fix)
    except docker.errors.APIError as error:
        return Check("base-image", False, f"cannot inspect {BASE_IMAGE}: {_reason(error)}", fix)
    return base_image_check((image.labels or {}).get(BASE_RECIPE_LABEL), current_recipe(), fix)


def base_image_check(recipe: str | None, wanted: str, fix: str = SETUP) -> Check:
    if not recipe:
        return Check("base-image", False, f"{BASE_IMAGE} was not made by envtrack (no recipe label)", fix)
    if recipe != wanted:
        return Check("base-image", False, f"{BASE_IMAGE} has recipe {recipe}, setup now makes {wanted}", fix)
    return Check("base-image", True, f"{BASE_IMAGE} (recipe {recipe}, current)")


@lru_cache(maxsize=1)
def current_recipe() -> str:
    """The recipe version the shipped setup script builds (its `RECIPE="N"` line)."""
    match = re.search(r'^RECIPE="([^"]+)"', SETUP_SCRIPT.read_text(), re.MULTILINE)
    if not match:
        raise RuntimeError(f"{SETUP_SCRIPT} has no RECIPE line")
    return match[1]


def check_disk(info: dict, endpoint: EngineEndpoint | None = None) -> Check:
    root = info.get("DockerRootDir") or "/var/lib/docker"
    if endpoint is not None and not endpoint.is_local:
        # The Engine API reports no free space; this machine's disks are not the engine host's.
        return Check("disk", True, f"{root} is on the engine host {endpoint.display}: free space not measured here")
    free = shutil.disk_usage(root if os.path.exists(root) else "/").free
    ok = free >= MIN_FREE_BYTES
    return Check("disk", ok, f"{free / 1024**3:.1f} GiB free under {root}",
                 "" if ok else "docker builder prune -af && docker image prune -f   # build cache and untagged images")


def check_ca() -> Check:
    path = Path(host_ca_path())
    if path.is_file() and b"BEGIN CERTIFICATE" in path.read_bytes()[:65536]:
        return Check("ca-bundle", True, f"{path} is injected into fetching build steps and containers")
    return Check("ca-bundle", False, f"{path} missing", "apt-get install -y ca-certificates")


def check_mirrors() -> Check:
    """The mirror table in force (envtrack.mirrors) and where each envd download goes with it."""
    from envtrack.llb.options import read_mirrors
    from envtrack.llb.toolchains import UPSTREAM_PREFIXES

    try:
        table = read_mirrors()
    except EnvtrackError as error:
        return Check("mirrors", False, error.message, "fix the ENVTRACK_MIRRORS or [mirrors] entry named above")
    if not table:
        return Check("mirrors", True, "none set: downloads come from their upstreams (ENVTRACK_MIRRORS or the "
                                      "config file's [mirrors] point them at mirrors)")
    routes = [f"{prefix} -> {table.rewrite(prefix)}" for prefix in UPSTREAM_PREFIXES if table.rewrite(prefix) != prefix]
    others = [f"{upstream} -> {mirror}" for upstream, mirror in table.pairs
              if not any(prefix.startswith(upstream) for prefix in UPSTREAM_PREFIXES)]
    return Check("mirrors", True, f"from {', '.join(table.sources)}: " + "; ".join(routes + others))


def check_downloads(start: Path) -> Check:
    """Each URL the build of START's build.envd would fetch, after the mirror table."""
    from envtrack.frontend import load_plan
    from envtrack.llb.downloads import planned_downloads
    from envtrack.project import DEFAULT_FILE, display_path

    if not (start / DEFAULT_FILE).is_file():
        return Check("downloads", True, f"no {DEFAULT_FILE} here (run doctor in a project to see its downloads)")
    try:
        downloads = planned_downloads(load_plan(display_path(start / DEFAULT_FILE)))
    except EnvtrackError as error:
        return Check("downloads", False, error.message, f"fix {DEFAULT_FILE} at the position named above")
    if not downloads:
        return Check("downloads", True, f"{DEFAULT_FILE} downloads nothing beyond its images and packages")
    return Check("downloads", True, "; ".join(f"{row['builtin']}: {row['url']}" for row in downloads))


def check_proxy() -> Check:
    names = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
    found = [f"{n}={os.environ.get(n) or os.environ.get(n.lower())}" for n in names
             if os.environ.get(n) or os.environ.get(n.lower())]
    return Check("proxy", True, ", ".join(found) if found else "no proxy variables set (passed to builds when set)")
