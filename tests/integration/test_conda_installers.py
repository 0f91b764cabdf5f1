"""install.conda as envd does it, on the real Engine, through ENVTRACK_MIRRORS pointing at a
loopback stand-in of each upstream in its own path layout: micromamba (use_mamba=True) from its
release URL, its conda channels below the mirrored channel alias; and envd's Miniconda installer,
checked against envd's checksum, which no stand-in can match: one line naming the URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import BASE_IMAGE, names_of, run_cli
from support.gateway_http import serve_directory
from test_conda_builtins import build_channel, journaled_conda_rows

STANDIN = Path(__file__).resolve().parent.parent / "support" / "micromamba_standin.py"
MICROMAMBA = "gh/mamba-org/micromamba-releases/releases/download/2.3.3-0/micromamba-linux-64"
MINICONDA = "anaconda/miniconda/Miniconda3-py311_25.9.1-1-Linux-x86_64.sh"


@pytest.fixture(scope="module")
def mirrors(tmp_path_factory):
    root = tmp_path_factory.mktemp("conda-upstreams")
    (root / MICROMAMBA).parent.mkdir(parents=True)
    (root / MICROMAMBA).write_bytes(STANDIN.read_bytes())
    (root / MINICONDA).parent.mkdir(parents=True)
    (root / MINICONDA).write_text("#!/bin/sh\necho not the installer envd pinned\n")
    (root / "conda").mkdir()
    build_channel(tmp_path_factory.mktemp("channel")).rename(root / "conda" / "conda-forge")
    with serve_directory(root) as url:
        yield (f"https://github.com/={url}/gh/ https://repo.anaconda.com/={url}/anaconda/ "
               f"https://conda.anaconda.org/={url}/conda/")


@pytest.fixture()
def project(scratch_project):
    """conftest's project directory: `down` and its images removed afterwards."""
    return scratch_project


def test_micromamba_installs_from_the_mirrored_channel_and_the_agent_journals_it(project, mirrors,
                                                                                 docker_client) -> None:
    (project / "build.envd").write_text(f'''\
def build():
    base(image="{BASE_IMAGE}")
    install.conda(use_mamba=True)
    install.conda_packages(name=["envtrack-hello"])
''')
    env = {"ENVTRACK_MIRRORS": mirrors}
    run_cli("up", "--progress", "quiet", cwd=project, env=env, check=True)
    out = run_cli("exec", "--", "sh", "-c", "readlink -f /usr/bin/conda; cat /opt/conda/envs/envd/share/"
                  "envtrack-hello.txt; micromamba list -n envd; echo $MAMBA_ROOT_PREFIX",
                  cwd=project, env=env, check=True).stdout
    assert out.splitlines() == ["/opt/conda/bin/micromamba", "hello from a conda channel", "envtrack-hello 1.0 0",
                                "/opt/conda"], out
    history = docker_client.containers.get(names_of(project).container).exec_run(
        ["cat", "/opt/conda/envs/envd/conda-meta/history"]).output.decode()
    assert "/conda/conda-forge::envtrack-hello-1.0-0" in history and '# update specs: ["envtrack-hello"]' in history
    # A runtime install by micromamba (as /usr/bin/conda) is journaled like conda's.
    assert run_cli("exec", "--", "conda", "install", "-y", "-n", "envd", "envtrack-extra", cwd=project,
                   env=env).returncode == 0
    rows = journaled_conda_rows(project, "envtrack-extra")
    assert rows and rows[-1].get("requested"), "the runtime micromamba install was not journaled as requested"


def test_miniconda_is_checked_against_envds_checksum(project, mirrors) -> None:
    (project / "build.envd").write_text(f'def build():\n    base(image="{BASE_IMAGE}")\n    install.conda()\n')
    proc = run_cli("build", "--progress", "quiet", cwd=project, env={"ENVTRACK_MIRRORS": mirrors}, timeout=600)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("envtrack: build.envd:3:5: install.conda: cannot fetch http://172.17.0.1:"), lines
    assert "Miniconda3-py311_25.9.1-1-Linux-x86_64.sh" in lines[0] and "mirrored by https://repo.anaconda.com/" in lines[0]
