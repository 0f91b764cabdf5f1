"""Diffing two teammates' locks: grouping, ordering, golden text and JSON, exit codes, speed."""

from __future__ import annotations

import json
import random
from pathlib import Path

from envtrack.records import Package
from envtrack.snapshot.diff import diff_packages
from envtrack.snapshot.lock import Lock, parse_lock, render_lock
from envtrack.snapshot.report import Side, render_json, render_text
from conftest import run_cli

DATA = Path(__file__).parent / "snapshot_data"


def _side(name: str) -> Side:
    return Side(name, parse_lock((DATA / name).read_text(), name))


def test_alice_and_bob_differ_in_apt_pip_and_conda_golden_text():
    alice, bob = _side("alice.lock"), _side("bob.lock")
    result = diff_packages(alice.lock.packages, bob.lock.packages)
    assert render_text(result, alice, bob) == (DATA / "alice_bob.diff.txt").read_text()


def test_alice_and_bob_golden_json():
    alice, bob = _side("alice.lock"), _side("bob.lock")
    result = diff_packages(alice.lock.packages, bob.lock.packages)
    assert render_json(result, alice, bob) == json.loads((DATA / "alice_bob.diff.json").read_text())


def test_groups_follow_manager_order_and_list_requested_first():
    alice, bob = _side("alice.lock"), _side("bob.lock")
    result = diff_packages(alice.lock.packages, bob.lock.packages)
    assert [g.manager for g in result.groups] == ["apt", "pip", "conda"]
    apt = result.groups[0]
    assert [(c.name, c.action) for c in apt.changed] == [            # jq is requested
        ("jq", "upgrade"), ("libjq1", "upgrade"), ("libonig5", "downgrade")]  # dpkg version order
    assert [c.name for c in apt.added] == ["vim-tiny"]
    assert [c.name for c in apt.removed] == ["curl"]
    pip = result.groups[1]
    assert (pip.changed[0].fields, pip.changed[0].action) == (("requested",), "modify")


def test_identical_inventories_are_equal_whatever_the_order():
    packages = list(_side("alice.lock").lock.packages)
    result = diff_packages(packages, list(reversed(packages)))
    assert result.equal and result.groups == ()


def test_same_name_in_two_pip_environments_are_separate_slots():
    a = [Package("pip", "six", "1.16.0", "/usr/lib/python3/dist-packages", False)]
    b = a + [Package("pip", "six", "1.17.0", "/opt/venv/lib/python3.11/site-packages", True)]
    result = diff_packages(a, b)
    assert [(g.env, len(g.added)) for g in result.groups] == [("/opt/venv/lib/python3.11/site-packages", 1)]


def test_cli_diff_exit_codes_like_diff(tmp_path):
    different = run_cli("diff", str(DATA / "alice.lock"), str(DATA / "bob.lock"))
    assert different.returncode == 1, different.stderr
    assert "~ numpy 1.26.0 -> 1.26.2  (upgrade, requested)" in different.stdout
    same = run_cli("diff", str(DATA / "alice.lock"), f"lock:{DATA / 'alice.lock'}")
    assert same.returncode == 0, same.stderr
    assert "no package differences" in same.stdout
    broken = tmp_path / "broken.lock"
    broken.write_text('{"envtrack_lock": 1}\n{"manager": "apt", "name": "jq"\n')
    error = run_cli("diff", str(broken), str(DATA / "bob.lock"))
    assert error.returncode == 2
    assert f"{broken}:2:" in error.stderr and "Traceback" not in error.stderr


def test_cli_diff_json_is_machine_readable():
    proc = run_cli("diff", "--json", str(DATA / "alice.lock"), str(DATA / "bob.lock"))
    report = json.loads(proc.stdout)
    assert report["equal"] is False
    assert report["summary"] == {"added": 2, "removed": 1, "changed": 5}


def _synthetic_locks(size: int = 5000) -> tuple[str, str]:
    """Two teammates' locks of one big environment: about 5% of the slots drifted."""
    rng = random.Random(7)
    envs = {"apt": "/", "pip": "/usr/lib/python3/dist-packages", "conda": "/opt/conda"}
    mine, theirs = [], []
    for i in range(size):
        manager = ("apt", "pip", "conda")[i % 3]
        package = Package(manager, f"pkg-{i:05d}", f"1.{i % 17}.{rng.randrange(9)}", envs[manager], i % 7 == 0,
                          arch="amd64" if manager == "apt" else "")
        mine.append(package)
        roll = rng.random()
        if roll < 0.02:
            theirs.append(Package(manager, package.name, package.version + ".1", package.env, package.requested,
                                  arch=package.arch))
        elif roll < 0.035:
            theirs.append(Package(manager, f"new-{i:05d}", "2.0", package.env, True))
        elif roll >= 0.05:
            theirs.append(package)
    return render_lock(Lock(tuple(mine))), render_lock(Lock(tuple(theirs)))


def test_diff_of_two_5000_package_locks_counts_every_kind():
    """Correctness at size; the 100 ms speed target lives in bench/snapshot.py, not in a timed test."""
    text_a, text_b = _synthetic_locks()
    a, b = parse_lock(text_a, "a.lock"), parse_lock(text_b, "b.lock")
    result = diff_packages(a.packages, b.packages)
    rendered = render_text(result, Side("a", a), Side("b", b))
    assert result.count("changed") > 50 and result.count("added") > 50 and result.count("removed") > 50
    assert rendered


def test_cli_errors_are_one_line_with_exit_2(tmp_path):
    missing = run_cli("diff", f"lock:{tmp_path / 'nope.lock'}", str(DATA / "bob.lock"))
    assert missing.returncode == 2
    assert missing.stderr.splitlines()[0] == f"envtrack: {tmp_path / 'nope.lock'}: no such lock file"
    no_project = run_cli("snapshot", str(tmp_path / "elsewhere"))
    assert no_project.returncode == 2 and "no such envd file" in no_project.stderr
    assert "Traceback" not in missing.stderr + no_project.stderr
