"""`up --locked`: a real build with the lock's versions, and a clear error for a version
that does not exist. Builds through C2's build_project on the real engine."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from conftest import BASE_IMAGE, ROOT
from envtrack.errors import EnvtrackError
from envtrack.project import Project
from envtrack.records import Package
from envtrack.snapshot.lock import Lock, render_lock
from envtrack.snapshot.locked import build_locked

OLD_SIX = "1.15.0"   # not the newest six: proves the pin, not the index, chose the version


@pytest.fixture(scope="module")
def jq_version(docker_client):
    """The jq version the mirror offers today (a lock of this machine would hold it)."""
    output = docker_client.containers.run(
        BASE_IMAGE, ["sh", "-c", "apt-get update -qq >/dev/null && apt-cache madison jq"], remove=True)
    return output.decode().split("|")[1].strip()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    directory = tmp_path_factory.mktemp("locked") / f"locked-{uuid.uuid4().hex[:8]}"
    shutil.copytree(ROOT / "examples" / "quickstart", directory)
    return Project.find(directory)


def _write_lock(path: Path, jq: str, six: str) -> None:
    site = "/usr/local/lib/python3.11/dist-packages"
    packages = (Package("apt", "jq", jq, "/", True, arch="amd64"), Package("pip", "six", six, site, True))
    path.write_text(render_lock(Lock(packages)))


def test_locked_build_installs_the_locked_versions(docker_client, project, jq_version):
    lock = project.dir / "envtrack.lock"
    _write_lock(lock, jq_version, OLD_SIX)
    result = build_locked(project, lock, progress="plain")
    try:
        output = docker_client.containers.run(
            result.image, ["sh", "-c", "python3 -c 'import six; print(six.__version__)'; dpkg-query -W jq"],
            entrypoint=[], remove=True).decode()
        assert OLD_SIX in output.splitlines()[0]
        assert output.splitlines()[1].split() == ["jq", jq_version]
    finally:
        docker_client.images.remove(result.image_id, force=True)


def test_unavailable_pinned_version_is_named(project, jq_version):
    lock = project.dir / "missing.lock"
    _write_lock(lock, jq_version, "0.0.99")
    with pytest.raises(EnvtrackError) as caught:
        build_locked(project, lock, progress="plain")
    assert "pinned version not available: pip six 0.0.99" in caught.value.message
