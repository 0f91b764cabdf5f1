"""`envtrack diff` of images: throwaway containers are removed, and an image without
python3 is still read (its installer records are copied out and parsed on the host)."""

from __future__ import annotations

import json
import uuid

import pytest

from conftest import BASE_IMAGE, run_cli


@pytest.fixture(scope="module")
def image_without_python(docker_client):
    """The base image with python3 deleted behind dpkg's back: dpkg still lists it."""
    container = docker_client.containers.run(
        BASE_IMAGE, ["sh", "-c", "rm -f /usr/bin/python3 /usr/bin/python3.*"], detach=True)
    try:
        assert container.wait()["StatusCode"] == 0
        tag = f"nopython-{uuid.uuid4().hex[:8]}"
        image = container.commit("envtrack/test-snapshot", tag)
    finally:
        container.remove(force=True)
    yield f"envtrack/test-snapshot:{tag}"
    docker_client.images.remove(image.id, force=True)


def _inventory_containers(docker_client) -> list:
    return docker_client.containers.list(all=True, filters={"label": "envtrack.role=inventory"})


def test_same_image_twice_is_equal_and_leaves_no_container(docker_client):
    before = len(_inventory_containers(docker_client))
    proc = run_cli("diff", "--json", BASE_IMAGE, f"image:{BASE_IMAGE}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["equal"] is True and report["a"]["packages"] > 50
    assert len(_inventory_containers(docker_client)) == before


def test_image_without_python3_is_read_from_its_dpkg_records(docker_client, image_without_python):
    proc = run_cli("diff", "--json", BASE_IMAGE, image_without_python)
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    assert report["b"]["packages"] >= 50
    assert [g for g in report["groups"] if g["manager"] == "apt"] == []  # same dpkg database
    assert _inventory_containers(docker_client) == []


def test_unknown_name_is_an_error_with_exit_2(docker_client):
    proc = run_cli("diff", BASE_IMAGE, f"envtrack/no-such-image:{uuid.uuid4().hex[:8]}")
    assert proc.returncode == 2
    assert "not a lock file, project directory, running container or local image" in proc.stderr
