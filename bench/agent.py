"""Benchmark the in-container agent on the real engine (run on demand, never in tests).

    python bench/agent.py [--iterations 10] [--idle-seconds 60] [--json]

Measures, in a throwaway project brought up with `envtrack up`:
  latency   installer exit -> its row in the journal (median; target < 500 ms; 0 when the row
            was in before the installer exited). Both times
            come from the same kernel clock: the container prints time.time() when pip exits,
            the agent stamps the row when it records it.
  idle cpu  the agent's utime+stime over IDLE seconds from /proc/PID/stat (target < 1% of a core)
  overhead  pip install+uninstall of local wheels with the agent running vs stopped
            (median ratio; target < 1.05)
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

BUILD_ENVD = """\
def build():
    base(image="envtrack/base:bookworm", dev=True)
    install.python()
"""
WHEELS = ["tomli==2.0.1", "six==1.16.0", "idna==3.7", "packaging==24.0"]
PIP = "PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip"
STAMP = 'python3 -c "import time; print(time.time())"'


def envtrack(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "envtrack", *args], cwd=project, capture_output=True, text=True)
    if check and proc.returncode:
        raise SystemExit(f"envtrack {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def sh(project: Path, script: str) -> str:
    return envtrack(project, "exec", "--", "sh", "-c", script).stdout


def row_count(journal: Path) -> int:
    from contextlib import closing

    from envtrack.journal import db as journal_db

    with closing(journal_db.open_journal(journal)) as db:
        return journal_db.change_counts(db)["total"]


def last_row_time(journal: Path) -> float:
    from contextlib import closing

    from envtrack.journal import db as journal_db

    with closing(journal_db.open_journal(journal)) as db:
        stamp = journal_db.read_changes(db)[-1].time
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def wait_rows(journal: Path, count: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while row_count(journal) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"no journal row within {timeout}s")
        time.sleep(0.01)


def agent_pid(project: Path) -> int:
    return json.loads((project / ".envtrack" / "agent.json").read_text())["pid"]


def measure_latency(project: Path, iterations: int) -> list[float]:
    journal = project / ".envtrack" / "journal.db"
    latencies = []
    for i in range(iterations):
        verb = "install --no-index --find-links /tmp/wheels" if i % 2 == 0 else "uninstall -y"
        before = row_count(journal)
        exited = float(sh(project, f"{PIP} {verb} -q tomli && {STAMP}").split()[-1])
        wait_rows(journal, before + 1)
        # Negative: the row landed before pip had exited (its dist-info is written earlier).
        latencies.append(max(0.0, last_row_time(journal) - exited))
    return latencies


def measure_idle_cpu(project: Path, seconds: float) -> float:
    pid = agent_pid(project)

    def ticks() -> int:
        fields = sh(project, f"cat /proc/{pid}/stat").rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])   # utime, stime (fields 14, 15 of stat)

    hertz = int(sh(project, "getconf CLK_TCK").strip() or 100)
    first = ticks()
    time.sleep(seconds)
    return (ticks() - first) / hertz / seconds * 100


def pip_cycle(project: Path) -> float:
    """Seconds, timed inside the container, to install and uninstall the local wheels."""
    names = " ".join(w.split("==")[0] for w in WHEELS)
    script = (f"s=$(date +%s.%N); {PIP} install -q --no-index --find-links /tmp/wheels {names} && "
              f"{PIP} uninstall -q -y {names}; e=$(date +%s.%N); echo \"$s $e\"")
    start, end = map(float, sh(project, script).split()[-2:])
    return end - start


def time_pip_pairs(project: Path, iterations: int) -> tuple[list[float], list[float]]:
    """Interleaved runs with and without the agent, so load from other work hits both alike."""
    with_agent, without_agent = [], []
    for _ in range(iterations):
        with_agent.append(pip_cycle(project))
        time.sleep(0.5)  # let the agent finish recording before it is stopped
        sh(project, f"kill {agent_pid(project)}")
        time.sleep(0.2)
        without_agent.append(pip_cycle(project))
        envtrack(project, "up", "--progress", "quiet")  # restarts the agent (it reconciles nothing)
    return with_agent, without_agent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--idle-seconds", type=float, default=60)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    project = Path(tempfile.mkdtemp(prefix="envtrack-bench-")) / f"bench-agent-{uuid.uuid4().hex[:6]}"
    project.mkdir()
    (project / "build.envd").write_text(BUILD_ENVD)
    try:
        envtrack(project, "up", "--progress", "quiet")
        sh(project, f"{PIP} download -q -d /tmp/wheels {' '.join(WHEELS)}")
        latencies = measure_latency(project, args.iterations)
        idle = measure_idle_cpu(project, args.idle_seconds)
        with_agent, without_agent = time_pip_pairs(project, args.iterations)
    finally:
        envtrack(project, "down", check=False)
        subprocess.run(["docker", "image", "rm", "-f", f"envtrack/{project.name}:latest"], capture_output=True)
        shutil.rmtree(project.parent, ignore_errors=True)

    result = {
        "latency_ms": {"median": round(statistics.median(latencies) * 1000, 1),
                       "max": round(max(latencies) * 1000, 1), "samples": len(latencies)},
        "idle_cpu_percent": round(idle, 3),
        "idle_seconds": args.idle_seconds,
        "pip_seconds": {"with_agent": round(statistics.median(with_agent), 3),
                        "without_agent": round(statistics.median(without_agent), 3)},
    }
    result["pip_ratio"] = round(result["pip_seconds"]["with_agent"] / result["pip_seconds"]["without_agent"], 3)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(f"latency   median {result['latency_ms']['median']} ms, max {result['latency_ms']['max']} ms "
              f"(target < 500 ms)")
        print(f"idle cpu  {result['idle_cpu_percent']} % of one core over {args.idle_seconds:.0f} s (target < 1 %)")
        print(f"pip       {result['pip_seconds']['with_agent']} s with agent, "
              f"{result['pip_seconds']['without_agent']} s without: ratio {result['pip_ratio']} (target < 1.05)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
