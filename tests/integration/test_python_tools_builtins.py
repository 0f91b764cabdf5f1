"""config.jupyter on the real engine (from the Python package index): the notebook server
answers on the host through its published port. install.uv downloads uv's release binary as
envd does: tests/integration/test_toolchain_downloads.py covers it."""

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
