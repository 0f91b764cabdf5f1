"""Build speed against `docker build` (BuildKit) on the same Engine, in one run.

    python bench/build.py [examples/quickstart examples/large]

For each example: cold build (builder cache pruned, images removed), cached rebuild, and
rebuild after appending one pip package, for envtrack and for the equivalent Dockerfile
built by `DOCKER_BUILDKIT=1 /usr/bin/docker build`. Times are whole processes, as a user
sees them. Prints the times and the ratios envtrack / docker (targets: <= 1.10 each,
cached <= 1.0).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKER = "/usr/bin/docker"
APPENDED = ("tomli-w", "iniconfig", "pyproject-hooks")  # small wheels; one round each
CACHED_ROUNDS = 5


def dockerfile(plan) -> str:
    """The Dockerfile a careful user would write for the same steps, in the same order."""
    lines, venv = [], False
    for step in plan.steps:
        kind, args = step.kind, step.args
        if kind == "base":
            lines.append(f"FROM {args['image']}")
        elif kind == "install.python":
            lines.append("RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv "
                         "python3-pip && python3 -m venv /opt/envtrack/venv")
            lines.append("ENV PATH=/opt/envtrack/venv/bin:$PATH")
            venv = True
        elif kind == "install.apt_packages":
            lines.append(f"RUN apt-get update && apt-get install -y --no-install-recommends {' '.join(args['name'])}")
        elif kind == "install.python_packages":
            lines.append(f"RUN {'pip' if venv else 'pip3'} install {' '.join(args['name'])}")
        elif kind == "run":
            lines.append("RUN " + " && ".join(args["commands"]))
        elif kind == "runtime.environ":
            lines += [f"ENV {k}={json.dumps(v)}" for k, v in args["env"].items()]
    return "\n".join(lines) + "\n"


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ, DOCKER_BUILDKIT="1"))
    elapsed = time.perf_counter() - started
    if proc.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{proc.stderr[-3000:]}")
    return elapsed


def reset_engine_cache() -> None:
    subprocess.run([DOCKER, "builder", "prune", "-af"], capture_output=True, check=True)
    for repo in ("envtrack/bench", "bench-docker"):
        ids = subprocess.run([DOCKER, "images", "-q", repo], capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run([DOCKER, "rmi", "-f", *set(ids)], capture_output=True)


PHASES = ("cold", "cached", "append pip")


def sequence(command: list[str], work: Path, envd: Path) -> dict[str, float]:
    """Cold build from a pruned cache, cached rebuild, then one pip package appended.

    The machine is shared and small: cached and appended times are medians of several rounds.
    """
    original_envd, original_dockerfile = envd.read_text(), (work / "Dockerfile").read_text()
    reset_engine_cache()
    cold = timed(command, work)
    cached = statistics.median(timed(command, work) for _ in range(CACHED_ROUNDS))
    appended = []
    for package in APPENDED:
        envd.write_text(original_envd + f'    install.python_packages(name=["{package}"])\n')
        (work / "Dockerfile").write_text(original_dockerfile + f"RUN pip install {package}\n")
        appended.append(timed(command, work))
    envd.write_text(original_envd)
    (work / "Dockerfile").write_text(original_dockerfile)
    return {"cold": cold, "cached": cached, "append pip": statistics.median(appended)}


def measure(example: Path) -> dict[str, tuple[float, float]]:
    from envtrack.frontend import load_plan

    work = Path(tempfile.mkdtemp(prefix="envtrack-bench-")) / "bench"
    shutil.copytree(example, work)
    envd = work / "build.envd"
    (work / "Dockerfile").write_text(dockerfile(load_plan(envd)))
    envtrack = [sys.executable, "-m", "envtrack", "build", str(work), "--progress", "quiet"]
    docker = [DOCKER, "build", "-q", "-t", "bench-docker", str(work)]
    # One shared Engine cache: each tool runs its whole sequence from a pruned cache.
    times = {name: sequence(command, work, envd) for name, command in (("envtrack", envtrack), ("docker", docker))}
    results = {phase: (times["envtrack"][phase], times["docker"][phase]) for phase in PHASES}
    shutil.rmtree(work.parent, ignore_errors=True)
    return results


def main(argv: list[str]) -> None:
    examples = [Path(a) for a in argv] or [ROOT / "examples" / "quickstart", ROOT / "examples" / "large"]
    print(f"{'example':<12} {'phase':<11} {'envtrack s':>10} {'docker s':>9} {'ratio':>6}  target")
    for example in examples:
        for phase, (mine, peer) in measure(example).items():
            target = 1.0 if phase == "cached" else 1.10
            verdict = "ok" if mine / peer <= target else "MISS"
            print(f"{example.name:<12} {phase:<11} {mine:>10.2f} {peer:>9.2f} {mine / peer:>6.2f}  <= {target:.2f} {verdict}")


if __name__ == "__main__":
    main(sys.argv[1:])
