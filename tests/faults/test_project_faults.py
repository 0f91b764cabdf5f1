"""Faults between projects, locks and disks, on the real engine: two directories with one name,
a path with URI characters, a pre-identity container, a killed sync holding nothing, a newer
journal refused before anything is written, a full `.envtrack/`, exit 137, `down` without build.envd.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import installed_envtrack, names_of, run_cli
from conftest import project_at as shared_project_at

BUILD_ENVD = """\
def build():
    base(image="envtrack/base:bookworm", dev=True)
    install.python()
"""
QUIET = "export PIP_DISABLE_PIP_VERSION_CHECK=1; "
NEWER = "newer than this envtrack understands"


def project_at(docker_client, path: Path, build_envd: str = BUILD_ENVD, *, up: bool = True):
    return shared_project_at(docker_client, path, build_envd, up=up)


def rows(project: Path) -> list[dict]:
    return json.loads(run_cli("log", "--json", cwd=project, check=True).stdout)


def wait_until(predicate, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def write_journal(project: Path, *, version: int | None = None) -> Path:
    """A journal holding one requested pip install that sync would write back."""
    from envtrack.journal import db as journal_db
    from envtrack.journal.row import Change

    path = project / ".envtrack" / "journal.db"
    db = journal_db.open_journal(path)
    site = "/opt/envtrack/venv/lib/python3.11/site-packages"   # the agent journals a site directory, not the venv
    journal_db.record_batch(db, [Change(time=journal_db.utc_now(), manager="pip", env=site, action="install",
                                        name="iniconfig", old_version=None, new_version="2.0.0", requested=True)])
    if version is not None:
        db.execute(f"PRAGMA user_version = {version}")
    db.close()
    return path


def test_two_directories_with_one_name_never_see_each_others_changes(docker_client, tmp_path) -> None:
    name = f"app-{uuid.uuid4().hex[:6]}"
    with project_at(docker_client, tmp_path / "a" / name) as a, project_at(docker_client, tmp_path / "b" / name) as b:
        first, second = docker_client.containers.get(names_of(a).container), docker_client.containers.get(names_of(b).container)
        assert first.id != second.id and names_of(a).image_repo != names_of(b).image_repo
        run_cli("exec", "--", "sh", "-c", QUIET + "python3 -m pip install -q iniconfig==2.0.0", cwd=a, check=True)
        wait_until(lambda: any(r["name"] == "iniconfig" for r in rows(a)), "a's journal row")
        assert not any(r["name"] == "iniconfig" for r in rows(b))
        assert "up to date" in run_cli("sync", "--dry-run", cwd=b, check=True).stdout
        assert "iniconfig" in run_cli("sync", "--dry-run", cwd=a, check=True).stdout
        run_cli("up", "--progress", "quiet", cwd=b, check=True)   # b's up leaves a's container alone
        assert docker_client.containers.get(names_of(a).container).id == first.id


def test_a_pre_identity_container_moves_to_its_own_directory_only(docker_client, tmp_path) -> None:
    name = f"old-{uuid.uuid4().hex[:6]}"
    with project_at(docker_client, tmp_path / "mine" / name) as mine, \
            project_at(docker_client, tmp_path / "other" / name, up=False) as other:
        container = docker_client.containers.get(names_of(mine).container)
        container.rename(f"envtrack-{name}")                 # as envtrack named it before identities
        (mine / ".envtrack" / "project.json").unlink()
        other_status = json.loads(run_cli("status", "--json", cwd=other, check=True).stdout)
        assert other_status["state"] == "absent"
        assert docker_client.containers.get(f"envtrack-{name}").id == container.id   # not taken by a namesake
        status = json.loads(run_cli("status", "--json", cwd=mine, check=True).stdout)
        assert (status["state"], status["container"]) == ("running", names_of(mine).container), status
        assert docker_client.containers.get(names_of(mine).container).id == container.id   # renamed, not recreated
        assert status["agent"] == "healthy", status


def test_a_path_with_uri_characters_journals_and_syncs(docker_client, tmp_path) -> None:
    parent = tmp_path / "uri"
    with project_at(docker_client, parent / f"we#ird?dir%41-{uuid.uuid4().hex[:4]}") as project:
        run_cli("exec", "--", "sh", "-c", QUIET + "python3 -m pip install -q iniconfig==2.0.0", cwd=project, check=True)
        wait_until(lambda: any(r["name"] == "iniconfig" for r in rows(project)), "the journal row")
        assert "iniconfig" in run_cli("sync", "--dry-run", cwd=project, check=True).stdout
        assert sorted(p.name for p in parent.iterdir()) == [project.name]   # no stray empty journal


def big_build_envd() -> str:
    """Over 64 KiB, with a plan whose pickle is larger than a pipe's buffer."""
    packages = ", ".join(f'"pkg-{i:05d}"' for i in range(6000))
    return BUILD_ENVD + f"    install.apt_packages(name=[{packages}])\n"


def test_a_killed_sync_never_leaves_the_lock_held_or_temporary_files(scratch_project: Path) -> None:
    (scratch_project / "build.envd").write_text(big_build_envd())
    assert (scratch_project / "build.envd").stat().st_size > 64 * 1024
    write_journal(scratch_project)
    expected = scratch_project.parent / "expected"   # the same project synced once, never killed
    shutil.copytree(scratch_project, expected)
    run_cli("sync", "--yes", cwd=expected, check=True)
    envtrack = str(installed_envtrack() / "bin" / "envtrack")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    started = time.monotonic()
    run_cli("sync", "--dry-run", cwd=scratch_project, check=True)
    whole = time.monotonic() - started   # kills spread over evaluation, rewrite, validation and write
    for delay in (whole * f for f in (0.3, 0.45, 0.6, 0.75, 0.9)):
        sync = subprocess.Popen([envtrack, "sync", "--yes"], cwd=scratch_project, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        sync.send_signal(signal.SIGKILL)
        sync.wait()
        started = time.monotonic()
        after = run_cli("sync", "--dry-run", cwd=scratch_project, env={"ENVTRACK_LOCK_TIMEOUT": "20"})
        assert after.returncode == 0, after.stderr
        assert "waiting for" not in after.stderr and time.monotonic() - started < whole + 20, after.stderr
    # A kill may land after a run's atomic rename: then that run wrote it and this one has
    # nothing to do. Either way build.envd is the one an unkilled sync writes, never half of it.
    final = run_cli("sync", "--yes", cwd=scratch_project, check=True)
    assert "updated build.envd" in final.stdout or "up to date" in final.stdout, final.stdout
    assert (scratch_project / "build.envd").read_text() == (expected / "build.envd").read_text()
    leftovers = [p.name for p in scratch_project.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == [], leftovers


def test_a_newer_journal_is_refused_before_any_command_writes(docker_client, scratch_project: Path) -> None:
    (scratch_project / "build.envd").write_text(BUILD_ENVD)
    journal = write_journal(scratch_project, version=99)
    before = ((scratch_project / "build.envd").read_bytes(), journal.read_bytes())
    for command in (["sync", "--yes"], ["sync", "--dry-run"], ["up", "--progress", "quiet"], ["log"], ["status"],
                    ["exec", "--", "true"], ["down"], ["snapshot", "-o", "x.lock"]):
        result = run_cli(*command, cwd=scratch_project)
        assert result.returncode == 1 and NEWER in result.stderr, (command, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 2, result.stderr
        assert ((scratch_project / "build.envd").read_bytes(), journal.read_bytes()) == before, command
    assert not (scratch_project / "x.lock").exists()
    assert not docker_client.containers.list(all=True, filters={"name": names_of(scratch_project).container})


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MiB tmpfs to hold a project, unmounted afterwards."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_state_dir_is_said_by_status_exec_and_sync(docker_client, small_disk: Path) -> None:
    with project_at(docker_client, small_disk / f"full-{uuid.uuid4().hex[:6]}") as project:
        fill = project / ".envtrack" / "fill"
        subprocess.run(["dd", "if=/dev/zero", f"of={fill}", "bs=1M"], capture_output=True)   # until ENOSPC
        status = json.loads(run_cli("status", "--json", cwd=project, check=True).stdout)
        assert status["agent"].startswith("recording stopped:") and "is full" in status["agent"], status
        installed = run_cli("exec", "--", "sh", "-c", QUIET + "python3 -m pip install -q iniconfig==2.0.0",
                            cwd=project, check=True)
        assert "recording has stopped" in installed.stderr and "is full" in installed.stderr, installed.stderr
        synced = run_cli("sync", "--dry-run", cwd=project)
        assert synced.returncode == 1 and "recording has stopped" in synced.stderr, (synced.stdout, synced.stderr)
        assert "up to date" not in synced.stdout
        fill.unlink()
        wait_until(lambda: any(r["name"] == "iniconfig" for r in rows(project)), "the missed change", timeout=90)
        assert json.loads(run_cli("status", "--json", cwd=project, check=True).stdout)["agent"] == "healthy"


def test_exit_137_is_explained_and_down_works_without_build_envd(docker_client, tmp_path) -> None:
    with project_at(docker_client, tmp_path / f"kills-{uuid.uuid4().hex[:6]}") as project:
        killed = run_cli("exec", "--", "sh", "-c", "kill -9 $$", cwd=project)
        assert killed.returncode == 137 and "was killed (exit 137)" in killed.stderr, killed.stderr
        container = docker_client.containers.get(names_of(project).container)
        container.update(mem_limit="160m", memswap_limit="160m")
        oom = run_cli("exec", "--", "python3", "-c", "b = bytearray(1 << 30)", cwd=project)
        assert oom.returncode == 137 and "OOM killer" in oom.stderr, oom.stderr
        status = json.loads(run_cli("status", "--json", cwd=project, check=True).stdout)
        assert "ran out of memory" in status["state_detail"], status
        running = subprocess.Popen([str(installed_envtrack() / "bin" / "envtrack"), "exec", "--", "sleep", "60"],
                                   cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
        time.sleep(2)
        container.kill()
        _, stderr = running.communicate(timeout=60)
        assert running.returncode != 0 and "envtrack:" in stderr and "exited" in stderr, (running.returncode, stderr)
        assert "killed" in json.loads(run_cli("status", "--json", cwd=project, check=True).stdout)["state_detail"]
        (project / "build.envd").unlink()
        down = run_cli("down", cwd=project)
        assert down.returncode == 0 and "removed" in down.stdout, (down.stdout, down.stderr)
        assert not docker_client.containers.list(all=True, filters={"name": names_of(project).container})
        (project / "build.envd").write_text(BUILD_ENVD)   # for the fixture's own down


PLANT = r"""
set -e
site=$(/opt/envtrack/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
mkdir -p /tmp/cut/cutshort-1.0.dist-info && cd /tmp/cut/cutshort-1.0.dist-info
printf 'Name: cutshort\nVersion: 1.0\n\n' > METADATA
printf 'cutshort-1.0.dist-info/METADATA,,\n' > RECORD
touch -d '-10 minutes' RECORD
mv /tmp/cut/cutshort-1.0.dist-info "$site/"
mkdir -p /tmp/fake/conda-meta
echo '{"name": "tokpkg", "version": "1.0", "build": "0", "channel": "https://conda.anaconda.org/t/S3CRET-CONDA/mychan"}' \
    > /tmp/fake/conda-meta/tokpkg-1.0-0.json
mv /tmp/fake /opt/fakeconda
apt-get update -q -o Acquire::Retries=3 >/dev/null 2>&1
apt-get -o Acquire::http::Proxy::unused.invalid=proxyuser:S3CRET-BARE@127.0.0.1:9 install -y -q --no-install-recommends bc >/dev/null
"""


def test_records_faults_on_the_real_engine(docker_client, tmp_path) -> None:
    """A wheel cut short (RECORD, no INSTALLER, long ago) stays a dependency; an apt proxy
    without a scheme and a conda token channel are masked in everything envtrack writes."""
    with project_at(docker_client, tmp_path / f"records-{uuid.uuid4().hex[:6]}") as project:
        result = docker_client.containers.get(names_of(project).container).exec_run(["sh", "-c", PLANT])
        assert result.exit_code == 0, result.output.decode(errors="replace")
        found = lambda: {(r["manager"], r["name"]): r for r in rows(project)}
        wait_until(lambda: {("pip", "cutshort"), ("conda", "tokpkg"), ("apt", "bc")} <= found().keys(), "three rows")
        assert found()[("pip", "cutshort")]["requested"] is False
        assert "cutshort" not in run_cli("sync", "--dry-run", cwd=project, check=True).stdout
        written = [p.read_bytes() for p in (project / ".envtrack").rglob("*") if p.is_file()]
        shown = run_cli("log", "--json", cwd=project, check=True).stdout
        for secret in ("S3CRET-CONDA", "S3CRET-BARE"):
            assert secret not in shown and not any(secret.encode() in data for data in written), secret
        assert "/t/****/mychan" in shown and "proxyuser:****@" in shown, shown
