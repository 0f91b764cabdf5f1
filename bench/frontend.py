"""Benchmark: evaluate a generated 2,000-statement build.envd; report time per statement.

Run on demand: `python bench/frontend.py [--statements N] [--repeat R]`. The budget is
1 ms per statement (exit 1 when the best run is over it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

BUDGET_MS = 1.0


def generate(statements: int) -> str:
    """A build() mixing every common builtin, a helper and a loop, `statements` calls long."""
    lines = [
        "# syntax=v1",
        "def apt(names):",
        "    install.apt_packages(name=names)",
        "",
        "def build():",
        '    base(image="envtrack/base:bookworm", dev=True)',
    ]
    kinds = [
        '    install.apt_packages(name=["pkg{n}", "lib{n}"])',
        '    install.python_packages(name=["py{n}==1.0"], requirements="")',
        '    run(commands=["echo {n}", "true"])',
        '    apt(["helper{n}"])',
        '    runtime.environ(env={{"V{n}": "{n}"}})',
        '    config.pip_index(url="https://mirror.example/{n}/simple", trust=True)',
    ]
    for n in range(statements - 1):
        lines.append(kinds[n % len(kinds)].format(n=n))
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()

    from envtrack.frontend import load_plan

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "build.envd"
        path.write_text(generate(options.statements))
        timings = []
        for _ in range(options.repeat):
            start = time.perf_counter()
            plan = load_plan(path)
            timings.append(time.perf_counter() - start)
    assert len(plan.steps) == options.statements, len(plan.steps)
    best, median = min(timings), statistics.median(timings)
    per_statement_ms = best * 1000 / options.statements
    print(f"{options.statements} statements: best {best * 1000:.1f} ms, median {median * 1000:.1f} ms, "
          f"{per_statement_ms:.3f} ms/statement (budget {BUDGET_MS} ms)")
    return 0 if per_statement_ms <= BUDGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
