"""install.uv and config.jupyter on the real engine (both from the Python package index): uv
falls back to the system Python when its own downloads are unreachable, and the notebook
server answers on the host through its published port."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import BASE_IMAGE, run_cli


@pytest.fixture()
def project(scratch_project):
    return scratch_project


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_install_uv_gives_uv_and_a_python_of_that_version(project: Path, docker_client) -> None:
    (project / "build.envd").write_text(f'def build():\n    base(image="{BASE_IMAGE}")\n    install.uv(python_version="3.11")\n')
    run_cli("build", "--progress", "quiet", cwd=project, check=True)
    out = docker_client.containers.run(f"envtrack/{project.name}:latest", entrypoint=[
        "sh", "-c", "uv --version && uv venv -q /tmp/v --python 3.11 && /tmp/v/bin/python --version"], remove=True)
    assert out.decode().startswith("uv ") and "Python 3.11" in out.decode()


def test_jupyter_is_reachable_through_its_published_port(project: Path) -> None:
    port = free_port()
    (project / "build.envd").write_text(f"""\
def build():
    base(image="{BASE_IMAGE}")
    install.python()
    config.jupyter(token="envtrack-token", port={port})
""")
    run_cli("up", "--progress", "quiet", cwd=project, check=True, timeout=1500)
    deadline, answer = time.monotonic() + 90, None
    while time.monotonic() < deadline and answer is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token=envtrack-token", timeout=5) as r:
                answer = json.loads(r.read())
        except OSError:
            time.sleep(1)
    assert answer is not None and "started" in answer, "the notebook server did not answer on its port"
    with pytest.raises(urllib.error.HTTPError):   # the token is required
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5)
