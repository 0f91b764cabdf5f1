"""The agent against a fake root on this machine: baseline, live inotify recording, reconcile.

No container here: the engine-backed proof is tests/integration/test_agent_journal.py. This
checks the agent's own logic (and real inotify through ctypes) fast.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from envtrack.agent import run
from envtrack.agent.apt_history import last_entry
from envtrack.container.spec import CA_MOUNT, FINGERPRINT_LABEL, PortMapping, container_spec, exposed_ports
from envtrack.frontend.steps import Step
from envtrack.errors import Position
from envtrack.journal.db import open_journal, read_changes, read_packages
from envtrack.project import Project

SITE = "usr/lib/python3/dist-packages"

APT_HISTORY = """\

Start-Date: 2026-11-29  01:00:00
Commandline: apt-get install -y curl
Install: curl:amd64 (7.88.1-10+deb12u5), libcurl4:amd64 (7.88.1-10+deb12u5, automatic)
End-Date: 2026-11-29  01:00:03

Start-Date: 2026-11-29  01:10:00
Commandline: apt-get install -y --no-install-recommends jq
Requested-By: dev (1000)
Install: libonig5:amd64 (6.9.8-1, automatic), jq:amd64 (1.6-2.1), libjq1:amd64 (1.6-2.1, automatic)
End-Date: 2026-11-29  01:10:02
"""


def add_dist(root: Path, name: str, version: str, requested: bool = True, record: bool = True) -> Path:
    info = root / SITE / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    if record:
        (info / "INSTALLER").write_text("pip\n")
        if requested:
            (info / "REQUESTED").write_text("")
        finish_record(info)
    return info


def finish_record(info: Path) -> None:
    """The RECORD pip writes last, listing the INSTALLER it wrote before."""
    (info / "RECORD").write_text(f"{info.name}/INSTALLER,,\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n")


def remove_dist(root: Path, name: str, version: str) -> None:
    info = root / SITE / f"{name}-{version}.dist-info"
    for child in info.iterdir():
        child.unlink()
    info.rmdir()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    fake = tmp_path / "root"
    (fake / SITE).mkdir(parents=True)
    (fake / "var/lib/dpkg").mkdir(parents=True)
    (fake / "var/lib/dpkg/status").write_text("Package: bash\nStatus: install ok installed\nArchitecture: amd64\n"
                                              "Version: 5.2.15-2+b2\n")
    add_dist(fake, "six", "1.16.0")
    return fake


def changes(state: Path) -> list[tuple]:
    return [(r.manager, r.action, r.name, r.old_version, r.new_version, r.requested, r.reconciled)
            for r in read_changes(open_journal(state / "journal.db"))]


def test_first_start_takes_a_baseline_and_records_nothing(root: Path, tmp_path: Path) -> None:
    agent = run.Agent(str(tmp_path / "state"), str(root))
    assert agent.start() == 0
    db = open_journal(tmp_path / "state" / "journal.db")
    assert {(p.manager, p.name) for p in read_packages(db, "baseline")} == {("apt", "bash"), ("pip", "six")}
    assert changes(tmp_path / "state") == []


def test_restart_reconciles_what_changed_while_down(root: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    run.Agent(str(state), str(root)).start()
    remove_dist(root, "six", "1.16.0")
    add_dist(root, "six", "1.17.0")
    add_dist(root, "tomli", "2.0.1")
    assert run.Agent(str(state), str(root)).start() == 2
    assert changes(state) == [("pip", "install", "tomli", None, "2.0.1", True, True),
                              ("pip", "upgrade", "six", "1.16.0", "1.17.0", True, True)] or \
        sorted(changes(state)) == sorted([("pip", "install", "tomli", None, "2.0.1", True, True),
                                          ("pip", "upgrade", "six", "1.16.0", "1.17.0", True, True)])


def test_a_new_container_gets_a_new_baseline_not_reconciled_changes(root: Path, tmp_path: Path, monkeypatch) -> None:
    state = tmp_path / "state"
    run.Agent(str(state), str(root)).start()
    add_dist(root, "tomli", "2.0.1")
    monkeypatch.setattr(run.socket, "gethostname", lambda: "another0container")
    assert run.Agent(str(state), str(root)).start() == 0
    assert changes(state) == []


def serve_in_background(state: Path, root: Path) -> None:
    def serve() -> None:  # SQLite connections belong to the thread that opened them
        agent = run.Agent(str(state), str(root))
        agent.start()
        agent.loop()

    threading.Thread(target=serve, daemon=True).start()
    deadline = time.monotonic() + 5
    while not (state / "agent.json").exists():  # the first heartbeat follows the watches
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_a_dist_info_is_recorded_once_its_record_lands(root: Path, tmp_path: Path) -> None:
    # pip byte-compiles (seconds for big packages) before INSTALLER, REQUESTED and RECORD.
    state = tmp_path / "state"
    serve_in_background(state, root)
    info = add_dist(root, "torchlike", "2.5.1", record=False)
    time.sleep(2 * run.QUIET_SECONDS + 0.3)
    assert changes(state) == []            # half-written: not a package yet
    (info / "RECORD").write_text("torchlike/__init__.py,,\n")  # the wheel's own RECORD, extracted first
    time.sleep(2 * run.QUIET_SECONDS + 0.3)
    (info / "INSTALLER").write_text("pip\n")
    time.sleep(2 * run.QUIET_SECONDS + 0.3)
    assert changes(state) == []            # INSTALLER alone: REQUESTED and the final RECORD follow
    (info / "REQUESTED").write_text("")
    finish_record(info)
    started = time.monotonic()
    while not changes(state):
        assert time.monotonic() - started < 2, "RECORD's arrival did not wake the agent"
        time.sleep(0.02)
    assert changes(state) == [("pip", "install", "torchlike", None, "2.5.1", True, False)]


def test_live_changes_are_journaled_within_half_a_second(root: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    def serve() -> None:  # SQLite connections belong to the thread that opened them
        agent = run.Agent(str(state), str(root))
        agent.start()
        agent.loop()

    threading.Thread(target=serve, daemon=True).start()
    deadline = time.monotonic() + 5
    while not (state / "agent.json").exists():  # the first heartbeat follows the watches
        assert time.monotonic() < deadline
        time.sleep(0.02)
    add_dist(root, "tomli", "2.0.1")
    add_dist(root, "idna", "3.7", requested=False)
    started = time.monotonic()
    while len(changes(state)) < 2:
        assert time.monotonic() - started < 2, changes(state)
        time.sleep(0.02)
    assert time.monotonic() - started < 0.5 + run.QUIET_SECONDS
    assert sorted(changes(state)) == [("pip", "install", "idna", None, "3.7", False, False),
                                      ("pip", "install", "tomli", None, "2.0.1", True, False)]
    status = json.loads((state / "agent.json").read_text())
    assert status["pid"] > 0 and status["heartbeat"].endswith("Z")


def test_state_files_belong_to_the_state_dir_owner(root: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    owner = 12345 if os.geteuid() == 0 else os.getuid()   # a host user other than the agent's root
    os.chown(state, owner, owner)
    agent = run.Agent(str(state), str(root))
    agent.start()
    agent.heartbeat()
    for name in ("journal.db", "journal.db-wal", "journal.db-shm", "agent.json"):
        assert (state / name).stat().st_uid == owner, name


def test_apt_history_names_the_last_command_and_its_automatic_packages() -> None:
    entry = last_entry(APT_HISTORY)
    assert entry.commandline == "apt-get install -y --no-install-recommends jq"
    assert entry.automatic == {"libonig5", "libjq1"}
    assert entry.named == {"libonig5", "jq", "libjq1"}


def step(kind: str, **args) -> Step:
    return Step(kind, args, Position("build.envd", 1, 1))


def test_container_spec_mounts_ports_and_ca(tmp_path: Path) -> None:
    (tmp_path / "build.envd").write_text("def build():\n    pass\n")
    project = Project.find(tmp_path)
    steps = [step("runtime.expose", envd_port=8888, host_port=0, service="", listen_addr="127.0.0.1"),
             step("runtime.expose", envd_port=6006, host_port=16006, service="", listen_addr="0.0.0.0")]
    assert exposed_ports(steps) == (PortMapping("8888/tcp", "127.0.0.1", 8888), PortMapping("6006/tcp", "0.0.0.0", 16006))
    spec = container_spec(project, "envtrack/x:1", "sha256:1", steps, bundle_dir=tmp_path / "b", host_ca="/ca.pem")
    kwargs = spec.run_kwargs()
    assert kwargs["volumes"][str(project.dir)] == {"bind": "/workspace", "mode": "rw"}
    assert kwargs["volumes"][str(project.state_dir)] == {"bind": "/envtrack-state", "mode": "rw"}
    assert kwargs["volumes"][str(tmp_path / "b")]["mode"] == "ro"
    assert kwargs["volumes"]["/ca.pem"] == {"bind": CA_MOUNT, "mode": "ro"}
    assert kwargs["environment"]["PIP_CERT"] == CA_MOUNT and kwargs["init"] is True
    assert kwargs["ports"] == {"8888/tcp": ("127.0.0.1", 8888), "6006/tcp": ("0.0.0.0", 16006)}
    without_ca = container_spec(project, "envtrack/x:1", "sha256:1", steps, bundle_dir=tmp_path / "b", host_ca=None)
    assert "PIP_CERT" not in without_ca.run_kwargs()["environment"]
    new_image = container_spec(project, "envtrack/x:2", "sha256:2", steps, bundle_dir=tmp_path / "b", host_ca="/ca.pem")
    assert len({spec.fingerprint(), without_ca.fingerprint(), new_image.fingerprint()}) == 3
    assert kwargs["labels"][FINGERPRINT_LABEL] == spec.fingerprint()
