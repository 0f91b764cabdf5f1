"""`envtrack up --locked` end to end on the real engine: up, snapshot, pin six to an older
version in the lock, rebuild locked, and the environment matches the lock exactly; a
version that does not exist fails naming the package and version."""

from __future__ import annotations

import json
import re
import shutil
import uuid

import pytest

from conftest import ROOT, names_of, run_cli

OLD_SIX = "1.15.0"   # not the newest six: the lock, not the index, chose it


def _set_six(lock_text: str, version: str) -> str:
    changed, count = re.subn(r'("name": "six", "version": ")[^"]+(")', rf"\g<1>{version}\g<2>", lock_text)
    assert count >= 1, "six is not in the lock"
    return changed


@pytest.fixture(scope="module")
def project(docker_client, tmp_path_factory):
    directory = tmp_path_factory.mktemp("locked") / f"locked-{uuid.uuid4().hex[:8]}"
    shutil.copytree(ROOT / "examples" / "quickstart", directory)
    up = run_cli("up", str(directory), "--progress", "plain")
    assert up.returncode == 0, up.stdout + up.stderr
    yield directory
    run_cli("down", "--file", str(directory))
    for image in docker_client.images.list(name=names_of(directory).image_repo):
        docker_client.images.remove(image.id, force=True)


def test_locked_rebuild_installs_exactly_the_locked_versions(project):
    snap = run_cli("snapshot", str(project))
    assert snap.returncode == 0, snap.stderr
    lock = project / "envtrack.lock"
    lock.write_text(_set_six(lock.read_text(), OLD_SIX))
    drifted = run_cli("snapshot", str(project), "--check")
    assert drifted.returncode == 1 and f"~ six {OLD_SIX} -> " in drifted.stdout, drifted.stdout

    up = run_cli("up", str(project), "--locked", "--progress", "plain")
    assert up.returncode == 0, up.stdout + up.stderr
    check = run_cli("snapshot", str(project), "--check")
    assert check.returncode == 0, check.stdout + check.stderr   # every package as locked, six included
    version = run_cli("exec", "--file", str(project), "--", "python3", "-c", "import six; print(six.__version__)")
    assert version.stdout.strip() == OLD_SIX, version.stdout + version.stderr


def test_unavailable_pinned_version_is_named(project):
    lock = project / "missing.lock"
    lock.write_text(_set_six((project / "envtrack.lock").read_text(), "0.0.99"))
    up = run_cli("up", str(project), "--locked", "--lock", str(lock), "--progress", "quiet")
    assert up.returncode == 1, up.stdout + up.stderr
    assert f"pinned version not available: pip six 0.0.99 (from {lock})" in up.stderr
    assert "Traceback" not in up.stderr


def test_diff_of_an_up_environment_against_its_image_names_a_runtime_pip_install(project):
    install = run_cli("exec", "--file", str(project), "--", "python3", "-m", "pip", "install", "-q", "tomli")
    assert install.returncode == 0, install.stdout + install.stderr
    proc = run_cli("diff", "--json", f"{names_of(project).image_repo}:latest", str(project))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["summary"] == {"added": 1, "removed": 0, "changed": 0}, proc.stdout
    (group,) = report["groups"]
    assert group["manager"] == "pip" and [(p["name"], p["requested"]) for p in group["added"]] == [("tomli", True)]
