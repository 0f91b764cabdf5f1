"""Shared fixtures. Integration tests need the real Docker Engine: they fail, never skip."""

from __future__ import annotations

import os
import subprocess
import sys
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


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, check: bool = False, timeout: int = 900):
    """Run the installed `envtrack` as a user would, in a subprocess."""
    full_env = dict(os.environ, **(env or {}))
    proc = subprocess.run(
        [sys.executable, "-m", "envtrack", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"envtrack {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@contextmanager
def project_dir(docker_client, tmp_path_factory, prefix: str, build_envd: str, *, up: bool = True):
    """A fresh project directory (unique name) holding BUILD_ENVD, up'ed unless UP is False;
    afterwards its container is removed (`down`) and its images too."""
    path = tmp_path_factory.mktemp(prefix) / f"{prefix}-{uuid.uuid4().hex[:6]}"
    path.mkdir()
    (path / "build.envd").write_text(build_envd)
    try:
        if up:
            run_cli("up", "--progress", "quiet", cwd=path, check=True)
        yield path
    finally:
        run_cli("down", cwd=path)
        for image in docker_client.images.list(name=f"envtrack/{path.name}"):
            docker_client.images.remove(image.id, force=True)
