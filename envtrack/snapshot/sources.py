"""The I/O shell: read a lock, an image or a running container into a `Side`.

Images and containers are read by running the envtrack/records package on their own python3
(standard library only, carried inside the command), so nothing is installed into them and
nothing needs a shell:
a container gets an exec, an image a throwaway container that is removed afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

from envtrack.endpoints import EngineEndpoint
from envtrack.errors import EnvtrackError
from envtrack.project import Project
from envtrack.llb.image_config import images_of
from envtrack.records import Package
from envtrack.snapshot.lock import LOCK_LABEL, ImageRef, Lock, package_from_json, parse_lock
from envtrack.snapshot.report import Side

PREFIXES = ("lock", "image", "container", "project")


class Engine:
    """The Engine images and containers are read from (ENDPOINT; without one, the Engine a
    command here would use) and its docker SDK client, each asked for on first use, so reading
    two locks never touches the engine nor the settings that choose it."""

    def __init__(self, endpoint: EngineEndpoint | None = None):
        self._endpoint = endpoint

    @property
    def endpoint(self) -> EngineEndpoint:
        if self._endpoint is None:
            from envtrack.endpoints import resolve_for

            self._endpoint = resolve_for(Path.cwd()).engine
        return self._endpoint

    @property
    def client(self) -> Any:
        from envtrack.engine.docker import docker_client

        return docker_client(self.endpoint)


def read_side(spec: str, engine: Engine) -> Side:
    """What `envtrack diff` was given: [lock:|image:|container:|project:]SPEC."""
    try:
        return _read_side(spec, engine)
    except Exception as error:
        docker = sys.modules.get("docker")  # imported only once the engine was needed
        if docker is not None and isinstance(error, docker.errors.DockerException):
            raise EnvtrackError(f"{spec}: the engine failed: {error}") from None
        raise


def _read_side(spec: str, engine: Engine) -> Side:
    kind, _, rest = spec.partition(":")
    if kind in PREFIXES and rest:
        return _READERS[kind](rest, engine)
    path = Path(spec)
    if path.is_dir() or (path.is_file() and path.suffix == ".envd"):
        return read_project(spec, engine)
    if path.is_file():
        return read_lock_side(spec, engine)
    found = _find_container(spec, engine)
    if found is not None:
        return container_side(found, f"container {spec}")
    return read_image(spec, engine)


def read_lock_file(path: str | Path) -> Lock:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EnvtrackError(f"{path}: no such lock file", exit_code=2,
                            hint="create one with `envtrack snapshot`") from None
    except (OSError, UnicodeDecodeError) as error:
        raise EnvtrackError(f"{path}: cannot read lock file: {error}", exit_code=2) from None
    return parse_lock(text, str(path))


def read_lock_side(spec: str, engine: Engine) -> Side:
    return Side(spec, read_lock_file(spec))


def read_project(spec: str, engine: Engine) -> Side:
    project = Project.find(spec)
    engine = Engine(project.engine)   # the project's container is on the Engine the project uses
    container = running_container(project, engine)
    return Side(f"environment {project.name} (container {project.container_name})",
                project_lock(project, container, engine))


def read_image(spec: str, engine: Engine) -> Side:
    """A local image, or one in a registry the reference names (pulled again, so a teammate's
    latest push is what is compared; the local copy when that fails). An image `envtrack push`
    made is read from the lock it carries, without running anything."""
    from envtrack.engine import api, registry
    from envtrack.engine.credentials import DOCKER_HUB, registry_of

    found = api.inspect_image(engine.endpoint, spec)
    if registry_of(spec) != DOCKER_HUB:
        try:
            found = registry.pull(engine.endpoint, spec)
        except EnvtrackError:
            if found is None:
                raise
    if found is None:
        raise EnvtrackError(f"{spec}: not a lock file, project directory, running container or local image "
                            "(to compare a pushed image, name its registry: HOST/NAME:TAG)", exit_code=2)
    pushed = ((found.get("Config") or {}).get("Labels") or {}).get(LOCK_LABEL)
    if pushed:
        return Side(f"image {spec} (the lock pushed with it)", parse_lock(pushed, f"{spec} ({LOCK_LABEL} label)"))
    packages = inventory_of_image(engine, found["Id"], spec)
    return Side(f"image {spec}", Lock(packages, image=ImageRef(spec, found["Id"])))


def read_container(spec: str, engine: Engine) -> Side:
    found = _find_container(spec, engine)
    if found is None:
        raise EnvtrackError(f"{spec}: no running container of that name", exit_code=2)
    return container_side(found, f"container {spec}")


def container_side(container: Any, label: str) -> Side:
    image_ref = container.attrs.get("Config", {}).get("Image", "")
    packages = inventory_of_container(container)
    return Side(label, Lock(packages, image=ImageRef(image_ref, container.image.id)))


_READERS: dict[str, Callable[[str, Engine], Side]] = {
    "lock": read_lock_side, "image": read_image, "container": read_container, "project": read_project,
}


def running_container(project: Project, engine: Engine) -> Any:
    found = _find_container(project.container_name, engine)
    if found is None:
        raise EnvtrackError(f"no running environment for {project.envd_file} "
                            f"(container {project.container_name})", hint="start it with `envtrack up`")
    return found


def project_lock(project: Project, container: Any, engine: Engine, lock_dir: Path | None = None) -> Lock:
    """The lock of a project's running container: its packages, images and build.envd digest."""
    image_ref = container.attrs.get("Config", {}).get("Image", "")
    envd_file = os.path.relpath(project.envd_file, lock_dir or project.dir)
    return Lock(
        packages=inventory_of_container(container),
        image=ImageRef(image_ref, container.image.id),
        base=base_image(project, engine),
        envd_file=Path(envd_file).as_posix(),
        envd_sha256=hashlib.sha256(project.envd_file.read_bytes()).hexdigest(),
        images=images_of(container.attrs.get("Config", {}).get("Labels") or {}),
    )



def base_image(project: Project, engine: Engine) -> ImageRef:
    """build.envd's base(image=...) and the local image ID it resolves to."""
    ref = _base_ref(project)
    if not ref:
        return ImageRef()
    import docker

    try:
        return ImageRef(ref, engine.client.images.get(ref).id)
    except docker.errors.ImageNotFound:
        return ImageRef(ref, "")


def _base_ref(project: Project) -> str:
    try:
        from envtrack.frontend import load_plan

        plan = load_plan(project.envd_file)
    except ImportError:
        return ""
    except EnvtrackError as error:
        print(f"envtrack: warning: base image not recorded: {error.message}", file=sys.stderr)
        return ""
    return next((str(s.args.get("image", "")) for s in plan.steps if s.kind == "base"), "")


# Runs a package given as {module: (is_package, source)} (zlib'd JSON, base64) on any python3 >= 3.8:
# a meta-path finder ahead of the container's own imports serves its modules from memory.
_PACKAGE_RUNNER = """\
import base64, importlib.abc, importlib.util, json, sys, zlib
MODULES = json.loads(zlib.decompress(base64.b64decode("%s")).decode("utf-8"))
class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name in MODULES:
            return importlib.util.spec_from_loader(name, self, is_package=MODULES[name][0])
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        exec(compile(MODULES[module.__name__][1], "<envtrack>/" + module.__name__, "exec"), module.__dict__)
sys.meta_path.insert(0, Finder())
from %s import main
sys.exit(main())
"""


def records_command() -> list[str]:
    """python3 running the records package from source, so nothing is copied into the container.

    The package travels in the command line (a few kB compressed, far under Linux's 128 kB
    per argument), beside an empty `envtrack` package so the host's imports never load.
    """
    import base64
    import zlib

    import envtrack.records

    package = Path(envtrack.records.__file__).parent
    modules: dict[str, tuple[bool, str]] = {"envtrack": (True, "")}
    for path in sorted(package.glob("*.py")):
        name = "envtrack.records" if path.stem == "__init__" else f"envtrack.records.{path.stem}"
        modules[name] = (path.stem == "__init__", path.read_text(encoding="utf-8"))
    payload = base64.b64encode(zlib.compress(json.dumps(modules).encode("utf-8"), 9)).decode("ascii")
    return ["python3", "-c", _PACKAGE_RUNNER % (payload, "envtrack.records.__main__"), "--root", "/"]


def inventory_of_container(container: Any) -> tuple[Package, ...]:
    """The records package on the container's python3; without one (exec exits 126/127), its record files."""
    code, (stdout, stderr) = container.exec_run(records_command(), demux=True)
    if code in (126, 127):
        return inventory_from_files(container)
    if code != 0:
        raise EnvtrackError(f"reading packages in container {container.name} failed (exit {code}): "
                            f"{_last_line(stderr)}")
    return parse_inventory(stdout or b"", f"container {container.name}")


def inventory_of_image(engine: Engine, image_id: str, label: str) -> tuple[Package, ...]:
    """Run the records package in a throwaway, network-less container of the image, removed afterwards.

    An image without python3 (a bare distro base) is read from its files instead: the
    installer records are copied out of the never-started container and parsed here.
    """
    import docker

    command = records_command()
    container = engine.client.containers.create(
        image_id, command=command[1:], entrypoint=command[:1], network_disabled=True,
        labels={"envtrack.role": "inventory"},
    )
    try:
        try:
            container.start()
        except docker.errors.APIError as error:
            if "executable file not found" in str(error) or "no such file or directory" in str(error):
                return inventory_from_files(container)
            raise EnvtrackError(f"cannot run image {label}: {error.explanation or error}") from None
        status = container.wait()
        stdout = container.logs(stdout=True, stderr=False)
        if status.get("StatusCode") != 0:
            stderr = container.logs(stdout=False, stderr=True)
            raise EnvtrackError(f"reading packages in image {label} failed "
                                f"(exit {status.get('StatusCode')}): {_last_line(stderr)}")
        return parse_inventory(stdout, f"image {label}")
    finally:
        container.remove(force=True)


# Installer records worth copying out of an image that has no python3 to read them itself.
RECORD_PATHS = ("/var/lib/dpkg/status", "/var/lib/apt/extended_states", "/opt/conda/conda-meta")


def inventory_from_files(container: Any) -> tuple[Package, ...]:
    import tempfile

    from envtrack.records import inventory

    with tempfile.TemporaryDirectory(prefix="envtrack-records-") as root:
        copy_records(container, Path(root))
        return tuple(inventory(root=root))


def copy_records(container: Any, root: Path) -> None:
    """The container's installer records (those readable without its python3) under ROOT."""
    for path in RECORD_PATHS:
        _copy_out(container, path, root / Path(path).parent.relative_to("/"))


def _copy_out(container: Any, path: str, into: Path) -> None:
    """Extract PATH from the container into INTO, refusing anything but plain files and dirs."""
    import io
    import tarfile

    import docker

    try:
        stream, _ = container.get_archive(path)
    except docker.errors.NotFound:
        return
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        safe = [m for m in tar.getmembers() if (m.isfile() or m.isdir()) and _inside(m.name)]
        tar.extractall(into, members=safe)


def _inside(name: str) -> bool:
    parts = Path(name).parts
    return bool(parts) and not Path(name).is_absolute() and ".." not in parts


def parse_inventory(output: bytes, where: str) -> tuple[Package, ...]:
    try:
        records = json.loads(output)
        return tuple(package_from_json(record) for record in records)
    except (ValueError, KeyError, TypeError) as error:
        raise EnvtrackError(f"unexpected package list from {where}: {error}") from None


def _find_container(name: str, engine: Engine) -> Any:
    import docker

    try:
        container = engine.client.containers.get(name)
    except docker.errors.NotFound:
        return None
    if container.status != "running":
        raise EnvtrackError(f"container {name} is {container.status}, not running",
                            hint="start it (`envtrack up`) or diff its image instead")
    return container


def _last_line(stderr: bytes | None) -> str:
    lines = (stderr or b"").decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "no error output"
