"""Snapshots and diffs against the real engine: a project's container from the base image,
locked, then changed at runtime with apt-get and pip; the lock check and `envtrack diff`
must name exactly what was installed."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import BASE_IMAGE, names_of, run_cli

CA_PATH = "/etc/envtrack/host-ca.crt"
ENV = {"PIP_CERT": CA_PATH, "SSL_CERT_FILE": CA_PATH, "REQUESTS_CA_BUNDLE": CA_PATH,
       "DEBIAN_FRONTEND": "noninteractive", "PIP_BREAK_SYSTEM_PACKAGES": "1",
       "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_CACHE_DIR": "1"}
PIP_SITE = "/usr/local/lib/python3.11/dist-packages"


@dataclass
class Environment:
    project: Path
    container: object
    lock: Path
    first_snapshot: object
    second_snapshot: object
    first_bytes: bytes
    second_bytes: bytes
    check_before: object


def _exec(container, *command: str) -> str:
    code, output = container.exec_run(list(command), environment=ENV)
    assert code == 0, f"{' '.join(command)} failed ({code}): {output.decode()[-1500:]}"
    return output.decode()


def _ca_tar() -> bytes:
    data = Path("/etc/ssl/certs/ca-certificates.crt").read_bytes()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(CA_PATH.lstrip("/"))
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def environment(docker_client, tmp_path_factory):
    """A running project environment, locked twice, then changed: apt jq + python3-pip, pip six."""
    project = tmp_path_factory.mktemp("snap") / f"snap-{uuid.uuid4().hex[:8]}"
    project.mkdir()
    (project / "build.envd").write_text(f'def build():\n    base(image="{BASE_IMAGE}")\n')
    container = docker_client.containers.run(
        BASE_IMAGE, ["sleep", "infinity"], name=names_of(project).container, detach=True,
        labels={"envtrack.role": "test"},
    )
    try:
        container.put_archive("/", _ca_tar())
        lock = project / "envtrack.lock"
        first = run_cli("snapshot", str(project), "--json")
        first_bytes = lock.read_bytes() if lock.exists() else b""
        second = run_cli("snapshot", str(project))
        second_bytes = lock.read_bytes() if lock.exists() else b""
        check_before = run_cli("snapshot", str(project), "--check")
        _exec(container, "apt-get", "update", "-q")
        _exec(container, "apt-get", "install", "-y", "-q", "--no-install-recommends", "jq", "python3-pip")
        _exec(container, "python3", "-m", "pip", "install", "-q", "six")
        yield Environment(project, container, lock, first, second, first_bytes, second_bytes, check_before)
    finally:
        container.remove(force=True)


def test_snapshot_twice_gives_identical_bytes(environment):
    assert environment.first_snapshot.returncode == 0, environment.first_snapshot.stderr
    summary = json.loads(environment.first_snapshot.stdout)
    assert summary["written"] is True and summary["packages"]["apt"] > 50
    assert summary["base"]["ref"] in ("", BASE_IMAGE)
    assert environment.second_snapshot.returncode == 0, environment.second_snapshot.stderr
    assert "unchanged" in environment.second_snapshot.stdout
    assert environment.first_bytes == environment.second_bytes
    assert b'"name": "dpkg"' in environment.first_bytes


def test_check_passes_before_and_fails_naming_the_runtime_installs(environment):
    assert environment.check_before.returncode == 0, environment.check_before.stdout + environment.check_before.stderr
    assert "matches" in environment.check_before.stdout
    after = run_cli("snapshot", str(environment.project), "--check")
    assert after.returncode == 1, after.stdout + after.stderr
    assert "+ jq " in after.stdout and "(requested)" in after.stdout
    assert f"pip {PIP_SITE}: 1 added" in after.stdout and "+ six " in after.stdout
    assert "drifted" in after.stderr
    report = json.loads(run_cli("snapshot", str(environment.project), "--check", "--json").stdout)
    assert report["equal"] is False


def test_diff_image_against_running_container_names_exactly_the_runtime_installs(environment):
    proc = run_cli("diff", "--json", BASE_IMAGE, environment.container.name)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["summary"]["removed"] == 0 and report["summary"]["changed"] == 0
    groups = {(g["manager"], g["env"]): g for g in report["groups"]}
    apt_added = {p["name"]: p for p in groups[("apt", "/")]["added"]}
    assert apt_added["jq"]["requested"] and apt_added["python3-pip"]["requested"]
    assert "libjq1" in apt_added and not apt_added["libjq1"]["requested"]
    site = groups[("pip", PIP_SITE)]
    assert [(p["name"], p["requested"]) for p in site["added"]] == [("six", True)]
    # Every apt package the diff names is one dpkg now has and the image did not.
    listed = set(_exec(environment.container, "dpkg-query", "-W", "-f", "${Package}\n").split())
    assert set(apt_added) <= listed
    text = run_cli("diff", BASE_IMAGE, f"container:{environment.container.name}")
    assert text.returncode == 1 and "+ six " in text.stdout


def test_diff_lock_against_project_directory(environment):
    proc = run_cli("diff", str(environment.lock), str(environment.project))
    assert proc.returncode == 1, proc.stderr
    assert "+ jq " in proc.stdout
    same = run_cli("diff", str(environment.project), environment.container.name)
    assert same.returncode == 0, same.stdout + same.stderr
