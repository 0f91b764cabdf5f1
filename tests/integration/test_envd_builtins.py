"""envd builtins on the real engine: io.http (checksummed, from a loopback server), git_config,
config.entrypoint, runtime.mount/init/daemon at `up`, config.gpu/shm_size in the container's
HostConfig, and the one-line failure of a toolchain whose mirror is down (install.cuda's image is
pulled like any base: test_registry.py)."""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import BASE_IMAGE, names_of, run_cli

PAYLOAD = b"served on loopback\n"


class Served(http.server.SimpleHTTPRequestHandler):
    """A plain file server (Last-Modified, Content-Length; no ETag) that notes who asked for what."""

    asked: list[tuple[str, str]] = []   # (path, User-Agent)

    def log_message(self, *args) -> None:
        Served.asked.append((self.path, self.headers.get("User-Agent", "")))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    (root / "payload.txt").write_bytes(PAYLOAD)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: Served(*a, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def server(served):
    return served[1]


@pytest.fixture()
def make_project(docker_client, tmp_path):
    made = []

    def make(text: str) -> Path:
        path = tmp_path / f"builtins-it-{uuid.uuid4().hex[:6]}"
        path.mkdir()
        (path / "build.envd").write_text(text)
        made.append(path)
        return path

    yield make
    for path in made:
        run_cli("down", cwd=path)
        for image in docker_client.images.list(name=names_of(path).image_repo):
            docker_client.images.remove(image.id, force=True)


def test_http_git_config_entrypoint_and_runtime_processes(server, make_project, docker_client) -> None:
    checksum = "sha256:" + hashlib.sha256(PAYLOAD).hexdigest()
    project = make_project(f"""\
def build():
    base(image="{BASE_IMAGE}")
    git_config(name="Envd User", email="user@example.com", editor="vim")
    io.http(url="{server}/payload.txt", checksum="{checksum}", filename="data.txt")
    config.entrypoint(["sh", "-c", "echo entry > /shared/entry.txt"])
    runtime.mount(host_path="shared", envd_path="/shared")
    runtime.init(commands=["echo init >> /shared/init.txt"])
    runtime.daemon(commands=[["sh", "-c", "'echo $$ >> /shared/daemon.pids; sleep 1'"]])
""")
    (project / "shared").mkdir()
    run_cli("build", "--progress", "quiet", cwd=project, check=True)
    image = f"{names_of(project).image_repo}:latest"
    out = docker_client.containers.run(image, entrypoint=["cat", "/home/envd/extra_source/data.txt", "/root/.gitconfig"],
                                       remove=True)
    assert out.startswith(PAYLOAD) and b"name = Envd User" in out and b"editor = vim" in out
    assert docker_client.images.get(image).attrs["Config"]["Entrypoint"] == ["sh", "-c", "echo entry > /shared/entry.txt"]

    run_cli("up", "--progress", "quiet", cwd=project, check=True)
    deadline = time.monotonic() + 30
    pids = project / "shared" / "daemon.pids"
    while time.monotonic() < deadline and len(pids.read_text().split() if pids.exists() else []) < 3:
        time.sleep(0.5)
    assert len(set(pids.read_text().split())) >= 3, "the daemon was not restarted after it exited"
    assert (project / "shared" / "init.txt").read_text() == "init\n"
    assert (project / "shared" / "entry.txt").read_text() == "entry\n"


def test_a_download_without_a_checksum_is_fetched_again_when_its_bytes_change(served, make_project,
                                                                               docker_client) -> None:
    """As `docker build` re-asks an ADD URL: the unchanged URL still answers from the stamp (after
    envtrack asks its server), the changed one is fetched again, never found as the old image."""
    root, server = served
    (root / "moving.txt").write_bytes(b"first\n")
    project = make_project(f"""\
def build():
    base(image="{BASE_IMAGE}")
    io.http(url="{server}/moving.txt", filename="moving.txt")
""")

    def build() -> tuple[dict, bytes]:
        proc = run_cli("build", "--progress", "quiet", "--json", cwd=project, check=True)
        result = json.loads(proc.stdout)
        content = docker_client.containers.run(result["image_id"], ["cat", "/home/envd/extra_source/moving.txt"],
                                               remove=True)
        return result, content

    first, content = build()
    assert content == b"first\n" and not first["cached"]
    Served.asked.clear()
    again, _ = build()
    assert again["cached"] and again["image_id"] == first["image_id"]
    assert ("/moving.txt", "envtrack") in Served.asked   # the stamp asked the server again
    (root / "moving.txt").write_bytes(b"second, longer\n")
    changed, content = build()
    assert content == b"second, longer\n", "the changed download was not fetched again"
    assert changed["image"] != first["image"] and changed["image_id"] != first["image_id"]


def test_a_wrong_checksum_fails_the_build(server, make_project) -> None:
    project = make_project(f"""\
def build():
    base(image="{BASE_IMAGE}")
    io.http(url="{server}/payload.txt", checksum="sha256:{'0' * 64}")
""")
    proc = run_cli("build", "--progress", "quiet", cwd=project)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "digest" in proc.stderr.lower() or "checksum" in proc.stderr.lower(), proc.stderr


def test_gpu_and_shared_memory_reach_the_host_config(make_project, docker_client) -> None:
    from envtrack.container.spec import container_spec
    from envtrack.frontend import load_plan
    from envtrack.project import Project

    project = make_project(f"""\
def build():
    base(image="{BASE_IMAGE}")
    config.gpu(count=2)
    config.shm_size(size=128)
""")
    spec = container_spec(Project.find(project), BASE_IMAGE, "", load_plan(project).steps,
                          bundle_dir=project, host_ca=None)
    container = docker_client.containers.create(**spec.run_kwargs())  # no GPU here: created, not started
    try:
        host_config = docker_client.api.inspect_container(container.id)["HostConfig"]
    finally:
        container.remove(force=True)
    assert host_config["ShmSize"] == 128 * 1024 * 1024
    assert host_config["DeviceRequests"][0]["Count"] == 2
    assert host_config["DeviceRequests"][0]["Capabilities"] == [["gpu"]]


def test_an_unreachable_toolchain_fails_in_one_line_naming_the_url_and_the_setting(make_project) -> None:
    with socket.socket() as closed:   # a port nothing listens on: the mirror is down
        closed.bind(("127.0.0.1", 0))
        mirror = f"http://127.0.0.1:{closed.getsockname()[1]}/go/"
    project = make_project(f'def build():\n    base(image="{BASE_IMAGE}")\n    install.go(version="1.22")\n')
    proc = run_cli("build", "--progress", "quiet", cwd=project, env={"ENVTRACK_MIRRORS": f"https://go.dev/dl/={mirror}"})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"envtrack: build.envd:3:5: install.go: cannot fetch {mirror}go1.22.linux-amd64.tar.gz: "), lines
    assert lines[0].endswith(f"; mirrored by https://go.dev/dl/={mirror} (ENVTRACK_MIRRORS)"), lines
