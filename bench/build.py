"""Build speed against `docker build` (BuildKit) on the same Engine, in one run.

    python bench/build.py [examples/quickstart examples/large]
    DOCKER_HOST=unix:///run/envtrack-peer/mergeop/docker.sock python bench/build.py --branched

For each example: cold build (builder cache pruned, images removed), cached rebuild, and
rebuild after appending one pip package, for envtrack and for the equivalent Dockerfile
built by `DOCKER_BUILDKIT=1 /usr/bin/docker build`. Times are whole processes, as a user
sees them. Prints the times and the ratios envtrack / docker (targets: <= 1.10 each,
cached <= 1.0).

--branched: examples/branched (three branches merged) against its multi-stage Dockerfile
with COPY --from; the third phase changes one branch (a pip package added to it); target
<= 0.80 each. It prunes the cache of the Engine DOCKER_HOST names, so it refuses the system
Engine (which other work shares) unless --prune-system-engine is given: run it on a peer.
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


BRANCH_EDIT = ('"six", "tomli"]', '"six", "tomli", "{}"]', "RUN pip install six tomli", "RUN pip install six tomli {}")


def edit_one_branch(work: Path, envd: Path, package: str) -> None:
    """Add PACKAGE to the pip branch of examples/branched and to the Dockerfile's pip stage."""
    old_envd, new_envd, old_docker, new_docker = BRANCH_EDIT
    envd.write_text(envd.read_text().replace(old_envd, new_envd.format(package)))
    dockerfile_path = work / "Dockerfile"
    dockerfile_path.write_text(dockerfile_path.read_text().replace(old_docker, new_docker.format(package)))


def sequence(command: list[str], work: Path, envd: Path, branched: bool = False) -> dict[str, float]:
    """Cold build from a pruned cache, cached rebuild, then one pip package appended.

    The machine is shared and small: cached and appended times are medians of several rounds.
    """
    original_envd, original_dockerfile = envd.read_text(), (work / "Dockerfile").read_text()
    reset_engine_cache()
    cold = timed(command, work)
    cached = statistics.median(timed(command, work) for _ in range(CACHED_ROUNDS))
    appended = []
    for package in APPENDED:
        if branched:
            edit_one_branch(work, envd, package)
        else:
            envd.write_text(original_envd + f'    install.python_packages(name=["{package}"])\n')
            (work / "Dockerfile").write_text(original_dockerfile + f"RUN pip install {package}\n")
        appended.append(timed(command, work))
        envd.write_text(original_envd)
        (work / "Dockerfile").write_text(original_dockerfile)
    return {"cold": cold, "cached": cached, "append pip": statistics.median(appended)}


def measure(example: Path, branched: bool = False) -> dict[str, tuple[float, float]]:
    from envtrack.frontend import load_plan

    work = Path(tempfile.mkdtemp(prefix="envtrack-bench-")) / "bench"
    shutil.copytree(example, work)
    envd = work / "build.envd"
    if not branched:   # examples/branched carries its own multi-stage Dockerfile
        (work / "Dockerfile").write_text(dockerfile(load_plan(envd)))
    envtrack = [sys.executable, "-m", "envtrack", "build", str(work), "--progress", "quiet"]
    docker = [DOCKER, "build", "-q", "-t", "bench-docker", str(work)]
    # One shared Engine cache: each tool runs its whole sequence from a pruned cache.
    times = {name: sequence(command, work, envd, branched)
             for name, command in (("envtrack", envtrack), ("docker", docker))}
    results = {phase: (times["envtrack"][phase], times["docker"][phase]) for phase in PHASES}
    shutil.rmtree(work.parent, ignore_errors=True)
    return results


SYSTEM_HOSTS = {"", "unix:///var/run/docker.sock", "unix:///run/docker.sock"}


def main(argv: list[str]) -> None:
    branched = "--branched" in argv
    if branched and os.environ.get("DOCKER_HOST", "") in SYSTEM_HOSTS and "--prune-system-engine" not in argv:
        sys.exit("--branched prunes the build cache of the Engine it runs on: point DOCKER_HOST at a peer "
                 "Engine (scripts/setup-peer-engine.sh), or pass --prune-system-engine")
    paths = [a for a in argv if not a.startswith("--")]
    examples = [Path(a) for a in paths] or (
        [ROOT / "examples" / "branched"] if branched else [ROOT / "examples" / "quickstart", ROOT / "examples" / "large"])
    print(f"{'example':<12} {'phase':<11} {'envtrack s':>10} {'docker s':>9} {'ratio':>6}  target")
    for example in examples:
        for phase, (mine, peer) in measure(example, branched).items():
            target = 0.80 if branched else 1.0 if phase == "cached" else 1.10
            verdict = "ok" if mine / peer <= target else "MISS"
            print(f"{example.name:<12} {phase:<11} {mine:>10.2f} {peer:>9.2f} {mine / peer:>6.2f}  <= {target:.2f} {verdict}")


if __name__ == "__main__":
    main(sys.argv[1:])
