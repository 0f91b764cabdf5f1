"""Benchmark: `envtrack sync` of 1,000 recorded changes into a 500-line build.envd.

    python bench/sync.py [--repeat N]

Times the whole sync as the CLI runs it (read journal, evaluate the file with the
frontend, rewrite with libcst, validate the result with the frontend, back up, write),
and each pure stage on its own. Target: under 300 ms.
"""

from __future__ import annotations

import argparse
from contextlib import closing
import statistics
import tempfile
import time
from pathlib import Path

SITE = "/usr/local/lib/python3.11/dist-packages"


def envd_text(lines: int = 500) -> tuple[str, list[str]]:
    """A build() of multi-line install calls (5 lines each) with comments; returns its pip names."""
    out = ["# generated for the sync benchmark", "", "def build():", '    base(image="envtrack/base:bookworm")',
           "    install.python()"]
    names = []
    call = 0
    while len(out) < lines - 1:
        group = [f"pkg{call}-{i}" for i in range(3)]
        names += group
        out += [f"    # group {call}", "    install.python_packages(name=["]
        out += [f'        "{n}==1.0.{call}",' for n in group[:2]] + [f'        "{group[2]}",  # unpinned', "    ])"]
        call += 1
    out.append('    run(commands=["true"])')
    return "\n".join(out) + "\n", names


def journal_rows(declared: list[str], count: int = 1000) -> list[tuple]:
    """COUNT rows: upgrades and removals of declared packages, new installs with dependencies, churn."""
    rows = []
    for i in range(count):
        kind = i % 5
        if kind == 0:
            rows.append(("pip", "upgrade", declared[i % len(declared)], "1.0", f"2.0.{i}", 1))
        elif kind == 1:
            rows.append(("pip", "remove", declared[(i * 7) % len(declared)], "1.0", None, 1))
        elif kind == 2:
            rows.append(("pip", "install", f"new{i}", None, "0.1", 1))
        elif kind == 3:
            rows.append(("pip", "install", f"dep{i}", None, "0.1", 0))
        else:
            rows.append(("apt", "install", f"tool{i}", None, "1.0-1", 1))
    return rows


def make_project(root: Path) -> Path:
    text, names = envd_text()
    (root / "build.envd").write_text(text)
    (root / ".envtrack").mkdir()
    from envtrack.journal import db as journal_db
    from envtrack.journal.row import Change

    with closing(journal_db.open_journal(root / ".envtrack" / "journal.db")) as db:
        journal_db.record_batch(db, [
            Change(time="2026-11-29T01:00:00.000Z", manager=m, env="/" if m == "apt" else SITE, action=a, name=n,
                   old_version=o, new_version=v, requested=bool(r)) for m, a, n, o, v, r in journal_rows(names)])
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from envtrack.frontend import load_plan
    from envtrack.project import Project
    from envtrack.sync.changes import fold_changes
    from envtrack.sync.journal import read_changes_since
    from envtrack.sync.rewrite import rewrite_source
    from envtrack.sync.service import apply, propose

    totals, stages = [], {"read journal": [], "fold": [], "load_plan": [], "rewrite (libcst)": []}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            project = Project.find(make_project(Path(tmp)))
            lines = project.envd_file.read_text().count("\n")
            t0 = time.perf_counter()
            rows = read_changes_since(project.journal_path, 0)
            t1 = time.perf_counter()
            changes = fold_changes(rows)
            t2 = time.perf_counter()
            plan = load_plan(project.envd_file)
            t3 = time.perf_counter()
            rewrite_source(project.envd_file.read_text(), plan, changes, envd_file=project.envd_file)
            t4 = time.perf_counter()
            for name, value in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                stages[name].append(value)

            start = time.perf_counter()
            proposal = propose(project)
            apply(proposal)
            totals.append(time.perf_counter() - start)
    print(f"sync of {len(rows)} journal rows ({len(changes)} net changes) into a {lines}-line build.envd")
    print(f"  whole sync (propose + apply): median {statistics.median(totals) * 1000:.0f} ms, "
          f"min {min(totals) * 1000:.0f} ms over {args.repeat} runs (target < 300 ms)")
    for name, values in stages.items():
        print(f"  {name:>16}: median {statistics.median(values) * 1000:.0f} ms")
    print(f"  ({len(proposal.rewrite.notes)} notes; apply also re-evaluates the result and writes a backup)")


if __name__ == "__main__":
    main()
