"""config.rstudio_server on the real Engine: Posit's .deb comes from a stand-in of its download
server (tests/support/downloads.py, built with dpkg-deb) that ENVTRACK_MIRRORS points the URL at,
`up` runs rserver supervised, `status` shows where its port is published, and it answers there."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import BASE_IMAGE, run_cli
from support.downloads import Upstreams

RSTUDIO = "2024.12.1-563"   # envtrack's RStudio Server release (envtrack.llb.toolchains)


@pytest.fixture()
def project(scratch_project):
    return scratch_project


def test_up_runs_rserver_from_the_mirrored_deb_and_status_shows_its_port(project: Path, tmp_path) -> None:
    upstreams = Upstreams(tmp_path / "upstreams")
    upstreams.rstudio_deb(RSTUDIO, 8787)
    (project / "build.envd").write_text(f'def build():\n    base(image="{BASE_IMAGE}")\n    config.rstudio_server()\n')
    with upstreams.serve() as mirrors:
        run_cli("up", "--progress", "quiet", cwd=project, env={"ENVTRACK_MIRRORS": mirrors}, check=True, timeout=1500)
    info = json.loads(run_cli("status", "--json", cwd=project, check=True).stdout)
    url = info["services"]["rstudio"]
    assert url == f"http://{info['ports']['8787/tcp']}" and url.startswith("http://127.0.0.1:"), info
    text = run_cli("status", cwd=project, check=True).stdout
    assert f"rstudio    {url}" in text.splitlines(), text
    deadline, answer = time.monotonic() + 60, None
    while time.monotonic() < deadline and answer is None:
        try:
            with urllib.request.urlopen(url + "/", timeout=5) as response:
                answer = response.read().decode()
        except OSError:
            time.sleep(1)
    assert answer == f"RStudio Server {RSTUDIO} stand-in\n", "rserver did not answer on its published port"
