"""Shared fixtures. Integration tests need the real Docker Engine: they fail, never skip."""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BASE_IMAGE = "envtrack/base:bookworm"


def pytest_collection_modifyitems(items):
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def docker_client():
    """A docker SDK client for the real engine. Missing engine is a test failure, not a skip."""
    import docker

    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except Exception as error:  # noqa: BLE001 - any reason the engine is unreachable
        pytest.fail(f"Docker Engine unreachable ({error}); run `envtrack engine setup` first", pytrace=False)
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"base image {BASE_IMAGE} missing; run `envtrack engine setup` first", pytrace=False)
    return client


@pytest.fixture(scope="session")
def peer_engine():
    """The peer Engine (Engine 26, BuildKit with MergeOp/DiffOp), started if needed. Never skipped."""
    from support.peer_engine import PeerEngineError, ensure_peer

    try:
        return ensure_peer()
    except PeerEngineError as error:
        pytest.fail(f"peer Engine unavailable: {error}", pytrace=False)


@pytest.fixture(scope="session")
def mergeop_engine():
    """A peer Engine whose BuildKit runs MergeOp/DiffOp (containerd image store). Never skipped."""
    from support.peer_engine import PeerEngineError, ensure_mergeop_peer

    try:
        return ensure_mergeop_peer()
    except PeerEngineError as error:
        pytest.fail(f"MergeOp peer Engine unavailable: {error}", pytrace=False)


@pytest.fixture(scope="session")
def hub_engine():
    """The peer Engine `hub`, whose Docker Hub is the loopback registry of support.registry
    (`ubuntu:22.04` and `python:3.11-slim` there are envtrack/base:bookworm). Never skipped."""
    from support.peer_engine import PeerEngineError, ensure_hub_peer
    from support.registry import RegistryError, ensure_hub_mirror

    try:
        mirror = ensure_hub_mirror()
        return ensure_hub_peer(f"http://{mirror.address}")
    except (PeerEngineError, RegistryError) as error:
        pytest.fail(f"hub Engine unavailable: {error}", pytrace=False)


@pytest.fixture(scope="session")
def open_registry(tmp_path_factory):
    """A registry anyone may pull from and push to, on a free loopback port, for the session."""
    from support.registry import RegistryError, start_registry

    try:
        registry = start_registry(tmp_path_factory.mktemp("registry-open"))
    except RegistryError as error:
        pytest.fail(str(error), pytrace=False)
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory):
    """A registry behind htpasswd (support.registry.USERNAME/PASSWORD), for the session."""
    from support.registry import RegistryError, start_registry

    try:
        registry = start_registry(tmp_path_factory.mktemp("registry-auth"), auth=True)
    except RegistryError as error:
        pytest.fail(str(error), pytrace=False)
    yield registry
    registry.stop()


@pytest.fixture
def scratch_project(docker_client, tmp_path_factory):
    """A project directory for one test (its build.envd written by the test); cleaned up like project_dir's."""
    with project_dir(docker_client, tmp_path_factory, "it", "", up=False) as path:
        yield path


# Where the test venv's dependency wheels are kept between sessions (a second session installs
# offline from here); the venv itself is new every session.
WHEELHOUSE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "envtrack-tests" / "wheelhouse"
_VENV: list[Path] = []


def installed_envtrack() -> Path:
    """The session's virtual environment with envtrack installed from a wheel of this checkout.

    Built once per session (`python3 -m venv`, `pip wheel --no-deps .`, `pip install WHEEL`
    with its dependencies), never the interpreter running pytest: a dependency or package-data
    file the wheel lacks fails the tests that use it, as it would fail a user.
    """
    if _VENV:
        return _VENV[0]
    work = Path(tempfile.mkdtemp(prefix="envtrack-test-venv-"))
    atexit.register(shutil.rmtree, work, True)
    source = work / "src"   # a copy, so building leaves no build/ or egg-info in the checkout
    shutil.copytree(ROOT, source, ignore=_not_sources)
    venv = work / "venv"
    python = venv / "bin" / "python"
    quiet = ["-q", "--disable-pip-version-check"]
    _run([sys.executable, "-m", "venv", str(venv)])
    # The setuptools already here when there is one (no download); else pip's isolated build.
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    _run([sys.executable, "-m", "pip", "wheel", *quiet, "--no-deps", *isolation, "-w", str(work / "dist"), str(source)])
    wheel = next((work / "dist").glob("envtrack-*.whl"))
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    offline = subprocess.run([str(python), "-m", "pip", "install", *quiet, "--no-index", "--find-links", str(WHEELHOUSE),
                              str(wheel)], capture_output=True, text=True, env=_without_checkout())
    if offline.returncode != 0:   # first session, or the dependencies changed: fetch them once
        _run([str(python), "-m", "pip", "wheel", *quiet, "-w", str(WHEELHOUSE), str(wheel)])
        for own in WHEELHOUSE.glob("envtrack-*.whl"):
            own.unlink()   # only the dependencies are worth keeping
        _run([str(python), "-m", "pip", "install", *quiet, "--no-index", "--find-links", str(WHEELHOUSE), str(wheel)])
    _VENV.append(venv)
    return venv


def _not_sources(folder: str, names: list[str]) -> set[str]:
    """What copying the checkout leaves out: VCS data, caches, and a previous build's output."""
    top = Path(folder) == ROOT
    return {n for n in names if n in (".git", "__pycache__", ".pytest_cache", ".envtrack") or n.endswith(".egg-info")
            or (top and n in ("build", "dist"))}


def _without_checkout() -> dict:
    """The environment minus PYTHONPATH: with a checkout on it, the venv's pip would take that
    checkout's egg-info for an installed envtrack and skip the wheel."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def _run(command: list[str]) -> None:
    proc = subprocess.run(command, capture_output=True, text=True, env=_without_checkout())
    if proc.returncode != 0:
        pytest.fail(f"building the test venv failed: {' '.join(command)}\n{proc.stdout}\n{proc.stderr}", pytrace=False)


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, check: bool = False, timeout: int = 900,
            input_text: str | None = None):
    """Run `envtrack` as a user would: the console script of the session's venv, in a subprocess."""
    full_env = dict(_without_checkout(), **(env or {}))   # the wheel's code, not a checkout's
    proc = subprocess.run(
        [str(installed_envtrack() / "bin" / "envtrack"), *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, input=input_text,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"envtrack {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def names_of(directory: Path):
    """The Engine names of the project in DIRECTORY (container, image_repo, volume, ...), from
    envtrack's one function for them: never spelled by hand in a test."""
    from envtrack.project import Project

    return Project.at(directory).names


@contextmanager
def project_dir(docker_client, tmp_path_factory, prefix: str, build_envd: str, *, up: bool = True):
    """A fresh project directory (unique name) holding BUILD_ENVD, up'ed unless UP is False;
    afterwards its container is removed (`down`) and its images too."""
    with project_at(docker_client, tmp_path_factory.mktemp(prefix) / f"{prefix}-{uuid.uuid4().hex[:6]}",
                    build_envd, up=up) as path:
        yield path


@contextmanager
def project_at(docker_client, path: Path, build_envd: str, *, up: bool = True):
    """PATH (made here) as a project holding BUILD_ENVD, up'ed unless UP is False; afterwards
    its container is removed (`down`) and its images too."""
    path.mkdir(parents=True)
    (path / "build.envd").write_text(build_envd)
    try:
        if up:
            run_cli("up", "--progress", "quiet", cwd=path, check=True)
        yield path
    finally:
        repo = names_of(path).image_repo
        run_cli("down", cwd=path)
        for image in docker_client.images.list(name=repo):
            docker_client.images.remove(image.id, force=True)
