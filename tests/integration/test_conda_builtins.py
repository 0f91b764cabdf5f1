"""install.conda + config.conda_channel + install.conda_packages on the real engine, against a
real conda-format channel built with py-rattler and served on the Docker bridge gateway. These
builds choose envtrack's py-rattler conda command (ENVTRACK_CONDA=rattler, the documented opt-in);
envd's Miniconda and micromamba are test_conda_installers.py's. The agent's reader sees the package."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import BASE_IMAGE, names_of, run_cli
from support.gateway_http import serve_directory

RATTLER = {"ENVTRACK_CONDA": "rattler"}   # the opt-in; without it install.conda downloads envd's installers


def build_channel(root: Path) -> Path:
    """Two noarch packages, packed with conda-package-handling and indexed by rattler."""
    import rattler.index

    channel = root / "channel"
    (channel / "noarch").mkdir(parents=True)
    for name in ("envtrack-hello", "envtrack-extra"):
        build_package(root / name, name, channel)
    asyncio.run(rattler.index.index_fs(channel))
    return channel


def build_package(package: Path, name: str, channel: Path) -> None:
    (package / "info").mkdir(parents=True)
    (package / "share").mkdir()
    (package / "share" / f"{name}.txt").write_text("hello from a conda channel\n")
    data = (package / "share" / f"{name}.txt").read_bytes()
    import hashlib

    (package / "info" / "index.json").write_text(json.dumps({
        "name": name, "version": "1.0", "build": "0", "build_number": 0, "depends": [],
        "subdir": "noarch", "noarch": "generic", "timestamp": int(time.time() * 1000), "license": "MIT"}))
    (package / "info" / "paths.json").write_text(json.dumps({"paths_version": 1, "paths": [{
        "_path": f"share/{name}.txt", "path_type": "hardlink",
        "sha256": hashlib.sha256(data).hexdigest(), "size_in_bytes": len(data)}]}))
    (package / "info" / "files").write_text(f"share/{name}.txt\n")
    subprocess.run([sys.executable, "-m", "conda_package_handling.cli", "create", str(package),
                    f"{name}-1.0-0.tar.bz2", "--out-folder", str(channel / "noarch")], check=True,
                   capture_output=True)


def journaled_conda_rows(project: Path, name: str, seconds: float = 30) -> list[dict]:
    """The journal's conda rows for NAME, once the agent has written one (or after SECONDS)."""
    deadline, rows = time.monotonic() + seconds, []
    while time.monotonic() < deadline and not rows:
        log = json.loads(run_cli("log", "--json", cwd=project, check=True).stdout or "[]")
        rows = [r for r in (log if isinstance(log, list) else log.get("changes", []))
                if r.get("manager") == "conda" and r.get("name") == name]
        time.sleep(1)
    return rows


@pytest.fixture(scope="module")
def channel_url(tmp_path_factory):
    with serve_directory(build_channel(tmp_path_factory.mktemp("conda"))) as url:
        yield url


def test_conda_packages_install_from_the_configured_channel(channel_url, docker_client, tmp_path) -> None:
    project = tmp_path / f"conda-it-{uuid.uuid4().hex[:6]}"
    project.mkdir()
    (project / "build.envd").write_text(f'''\
def build():
    base(image="{BASE_IMAGE}")
    install.conda(use_mamba=True)
    config.conda_channel(channel="channels:\\n  - {channel_url}\\n")
    install.conda_packages(name=["envtrack-hello"])
''')
    try:
        run_cli("build", "--progress", "quiet", cwd=project, env=RATTLER, check=True)
        image = f"{names_of(project).image_repo}:latest"
        out = docker_client.containers.run(image, entrypoint=["sh", "-c",
                                           "cat /opt/conda/envs/envd/share/envtrack-hello.txt; "
                                           "cat /opt/conda/envs/envd/conda-meta/history; conda list; "
                                           "micromamba list"], remove=True).decode()
        assert out.startswith("hello from a conda channel")
        assert "# update specs: ['envtrack-hello']" in out and out.count("envtrack-hello ") >= 2
        from envtrack.records import read_conda

        container = docker_client.containers.create(image, entrypoint=["true"])
        try:
            meta = tmp_path / "meta"
            bits, _ = container.get_archive("/opt/conda/envs/envd/conda-meta")
            import io
            import tarfile

            tarfile.open(fileobj=io.BytesIO(b"".join(bits))).extractall(meta / "opt/conda/envs/envd")
        finally:
            container.remove(force=True)
        packages = read_conda(str(meta), prefixes=["/opt/conda/envs/envd"])
        assert [(p.name, p.version, p.requested) for p in packages] == [("envtrack-hello", "1.0", True)]
    finally:
        for found in docker_client.images.list(name=names_of(project).image_repo):
            docker_client.images.remove(found.id, force=True)


def test_env_file_at_build_and_conda_install_at_runtime_are_journaled(channel_url, docker_client, tmp_path) -> None:
    project = tmp_path / f"conda-rt-it-{uuid.uuid4().hex[:6]}"
    project.mkdir()
    (project / "environment.yml").write_text(f"channels:\n  - {channel_url}\ndependencies:\n  - envtrack-hello\n")
    (project / "build.envd").write_text(f'''\
def build():
    base(image="{BASE_IMAGE}")
    install.conda()
    config.conda_channel(channel="channels:\\n  - {channel_url}\\n")   # the local channel stands in for conda-forge, envd's default
    install.conda_packages(env_file="environment.yml")
''')
    try:
        run_cli("up", "--progress", "quiet", cwd=project, env=RATTLER, check=True)
        proc = run_cli("exec", "--", "conda", "install", "-y", "-c", channel_url, "envtrack-extra", cwd=project)
        assert proc.returncode == 0, proc.stderr
        rows = journaled_conda_rows(project, "envtrack-extra")
        assert rows and rows[-1].get("requested"), "the runtime conda install was not journaled as requested"
        listed = run_cli("exec", "--", "conda", "list", cwd=project, check=True).stdout
        assert "envtrack-hello" in listed and "envtrack-extra" in listed
    finally:
        run_cli("down", cwd=project)
        for found in docker_client.images.list(name=names_of(project).image_repo):
            docker_client.images.remove(found.id, force=True)
