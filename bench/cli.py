"""Everyday commands against the Docker commands they stand for, side by side in one run.

    python bench/cli.py [--envtrack PATH] [--make-venv DIR] [--rounds N]

Measures whole processes, as a user runs them, from an ordinary (non-editable) install:
pass the console script of one with --envtrack, or let --make-venv DIR create a venv and
`pip install` this checkout into it (not editable). Each round runs envtrack's command and
its peer back to back, so load on a shared machine hits both, the two taking turns to go
first; figures are medians.

Project: a copy of examples/quickstart (without any `.envtrack/` state) under a unique
name, built and started once; 100 journal rows are added (dependencies, so `sync` has
nothing to write) and synced once, so `log` prints 100 rows and `sync --dry-run` has no
changes. Nothing shared is pruned or removed: only this run's container and image tags.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKER = "/usr/bin/docker"
sys.path.insert(0, str(ROOT / "bench"))


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, capture_output=True, env=dict(os.environ, DOCKER_BUILDKIT="1"))
    elapsed = time.perf_counter() - started
    if proc.returncode:
        sys.exit(f"{' '.join(command)} exited {proc.returncode}:\n{proc.stderr.decode()[-2000:]}")
    return elapsed


def make_venv(directory: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(directory)], check=True)
    subprocess.run([str(directory / "bin" / "pip"), "install", "-q", str(ROOT)], check=True)
    return directory / "bin" / "envtrack"


def is_editable(envtrack: Path) -> bool:
    python = envtrack.parent / "python"
    code = ("import importlib.metadata as m, json; d = m.distribution('envtrack').read_text('direct_url.json'); "
            "print(json.loads(d).get('dir_info', {}).get('editable', False) if d else False)")
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout.strip()
    return out == "True"


def add_dependency_rows(journal: Path, count: int) -> None:
    """COUNT recorded dependency installs, written as the agent writes rows (it may run meanwhile)."""
    from envtrack.journal import db as journal_db
    from envtrack.journal.row import Change

    db = journal_db.open_journal(journal)
    try:
        journal_db.record_batch(db, [
            Change(time=f"2026-01-01T00:00:{i % 60:02d}.000Z", manager="pip", env="/opt/envtrack/venv",
                   action="install", name=f"bench-dep-{i:03d}", old_version="", new_version="1.0", requested=False)
            for i in range(count)])
    finally:
        db.close()


def setup_project(envtrack: Path, work: Path) -> dict[str, str]:
    from build import dockerfile  # bench/build.py: the Dockerfile a careful user would write
    from envtrack.frontend import load_plan

    shutil.copytree(ROOT / "examples" / "quickstart", work, ignore=shutil.ignore_patterns(".envtrack"))
    (work / "Dockerfile").write_text(dockerfile(load_plan(work / "build.envd")))
    for command in (["up", "--progress", "quiet"], ["exec", "--", "true"]):
        timed([str(envtrack), *command], work)
    journal = work / ".envtrack" / "journal.db"
    for _ in range(100):  # the agent creates the journal's tables right after its start
        if journal.exists() and sqlite3.connect(journal).execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'changes'").fetchone():
            break
        time.sleep(0.1)
    add_dependency_rows(journal, 100)
    timed([str(envtrack), "sync", "--yes"], work)
    from envtrack.project import Project

    name = Project.find(work).container_name   # the project's identity name (basename plus path hash)
    timed([DOCKER, "build", "-q", "-t", f"{work.name}-docker", str(work)], work)
    return {"container": name, "docker_tag": f"{work.name}-docker"}


def measure(envtrack: Path, work: Path, names: dict[str, str], rounds: int) -> list[tuple]:
    python = str(envtrack.parent / "python")
    et = str(envtrack)
    floor = [python, "-c", "pass"]
    cases = [  # label, envtrack command, peer label, peer command, target (ratio or seconds)
        ("build (cached)", [et, "build", "--progress", "quiet"], "docker build (cached)",
         [DOCKER, "build", "-q", "-t", names["docker_tag"], str(work)], ("ratio", 1.0)),
        ("exec -- true", [et, "exec", "--", "true"], "docker exec NAME true",
         [DOCKER, "exec", names["container"], "true"], ("ratio", 1.0)),
        ("up (running, current)", [et, "up", "--progress", "quiet"], "docker start NAME (running)",
         [DOCKER, "start", names["container"]], ("seconds", 0.25)),
        ("status", [et, "status"], "python -c pass", floor, ("seconds", 0.15)),
        ("log (100 rows)", [et, "log"], "python -c pass", floor, ("seconds", 0.15)),
        ("plan", [et, "plan"], "python -c pass", floor, ("seconds", 0.15)),
        ("--help", [et, "--help"], "python -c pass", floor, ("seconds", 0.15)),
        ("sync --dry-run (no changes)", [et, "sync", "--dry-run"], "python -c pass", floor, ("seconds", 0.2)),
    ]
    times: dict[str, list[float]] = {}
    for round_number in range(rounds):
        for label, mine, peer_label, peer, _target in cases:
            pair = [(label, mine), (label + "/peer", peer)]
            # Who goes first alternates: the first of a pair pays for whatever the Engine is
            # still doing after the previous case (a build's cleanup), and that is neither's cost.
            for key, command in pair if round_number % 2 == 0 else pair[::-1]:
                times.setdefault(key, []).append(timed(command, work))
    rows = []
    for label, _mine, peer_label, _peer, (kind, limit) in cases:
        mine_s, peer_s = statistics.median(times[label]), statistics.median(times[label + "/peer"])
        value = mine_s / peer_s if kind == "ratio" else mine_s
        rows.append((label, mine_s, peer_label, peer_s, mine_s / peer_s, kind, limit, value <= limit))
    return rows


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envtrack", type=Path, help="console script of a non-editable install")
    parser.add_argument("--make-venv", type=Path, help="create a venv here and install this checkout into it")
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args(argv)
    envtrack = make_venv(options.make_venv) if options.make_venv else options.envtrack
    if envtrack is None:
        parser.error("give --envtrack PATH or --make-venv DIR")
    envtrack = envtrack.absolute()
    if is_editable(envtrack):
        print("warning: this envtrack is an editable install; users run a regular one", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="envtrack-bench-")) / f"bench-cli-{os.getpid()}"
    try:
        names = setup_project(envtrack, work)
        rows = measure(envtrack, work, names, options.rounds)
    finally:
        subprocess.run([str(envtrack), "down", "-f", str(work)], capture_output=True)
        tags = subprocess.run([DOCKER, "images", "-q", f"envtrack/{work.name}"], capture_output=True, text=True)
        ids = set(tags.stdout.split())
        if ids:
            subprocess.run([DOCKER, "rmi", "-f", *ids], capture_output=True)
        subprocess.run([DOCKER, "rmi", f"{work.name}-docker"], capture_output=True)
        shutil.rmtree(work.parent, ignore_errors=True)
    load = os.getloadavg()[0]
    print(f"envtrack {envtrack} (non-editable), {options.rounds} rounds, load average {load:.1f}")
    print(f"{'command':<28} {'envtrack s':>10}  {'peer':<28} {'peer s':>7} {'ratio':>6}  target")
    for label, mine_s, peer_label, peer_s, ratio, kind, limit, ok in rows:
        target = f"<= {limit:.2f}x" if kind == "ratio" else f"<= {limit:.2f} s"
        print(f"{label:<28} {mine_s:>10.3f}  {peer_label:<28} {peer_s:>7.3f} {ratio:>6.2f}  {target} "
              f"{'ok' if ok else 'MISS'}")
    print(json.dumps({label: round(mine_s, 4) for label, mine_s, *_ in rows}), file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
