"""Build speed against `docker build` (BuildKit) on the same Engine, in one run.

    python bench/build.py [--envtrack PATH] [--prune] [examples/quickstart examples/large]

For each example: cold build, cached rebuild, and rebuild after appending one pip package,
for envtrack and for the equivalent Dockerfile built by `DOCKER_BUILDKIT=1 /usr/bin/docker
build`. Times are whole processes, as a user sees them; pass --envtrack with the console
script of an ordinary (non-editable) install to measure what users run (default: this
checkout through `python -m envtrack`). Prints the times, the ratios envtrack / docker
(targets: cold <= 1.10, cached and append-pip <= 1.0) and the Python start-up floor.

Safe on a shared Engine by default: "cold" means a unique first step (a nonce) that no
cache holds, so every later step misses too; cache mounts (apt, pip) stay as warm as other
builds left them. --prune instead prunes the Engine's whole build cache before each
sequence: only on a machine where nothing else is building. Only this run's images are removed.

    DOCKER_HOST=unix:///run/envtrack-peer/mergeop/docker.sock python bench/build.py --branched

--branched: examples/branched (three branches merged) and bench/ml-branched (a CUDA-free ML
stack: an apt toolchain branch, a scientific pip branch, a downloaded-tool branch whose archive
a loopback HTTP server of this run serves) against their multi-stage Dockerfiles with COPY
--from; the third phase changes one branch (a pip package added to it); target <= 0.80 each.
--branched prunes the build cache of the Engine DOCKER_HOST names, except the system Engine's
(on a peer, after removing every envtrack image but the bases: the records an image holds
survive a prune, and the test suite's builds share envtrack's first steps),
which other work shares: there "cold" is the nonce step, which every stage builds on (every
stage of both Dockerfiles starts FROM main), unless --prune-system-engine is given.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.server
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from contextlib import contextmanager
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


NAME = f"bench-{os.getpid()}"    # this run's project, container and image names
PRUNE = False
PEER = False   # --branched on a peer Engine (DOCKER_HOST is not the system Engine's)


def remove_own_images() -> None:
    for repo in (f"envtrack/{NAME}", f"{NAME}-docker"):
        ids = subprocess.run([DOCKER, "images", "-q", repo], capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run([DOCKER, "rmi", "-f", *set(ids)], capture_output=True)


def remove_leftover_builds() -> None:
    """Before pruning an unshared peer: every envtrack image but the bases (the test suite's builds).
    `builder prune -af` keeps the build records an image still holds, and envtrack's steps share
    them (the same base, install.python) where the Dockerfile's do not: "cold" was not cold."""
    listed = subprocess.run([DOCKER, "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                            text=True).stdout.split()
    leftovers = [ref for ref in listed if ref.startswith("envtrack/") and not ref.startswith("envtrack/base:")
                 and not ref.endswith(":<none>")]
    if leftovers:
        subprocess.run([DOCKER, "rmi", "-f", *leftovers], capture_output=True)
    subprocess.run([DOCKER, "image", "prune", "-f"], capture_output=True)   # untagged ones hold records too


def make_cold(envd: Path, work: Path) -> None:
    """Nothing cached for either tool: prune (--prune), or a nonce step right after the base."""
    remove_own_images()
    if PRUNE:
        if PEER:
            remove_leftover_builds()
        subprocess.run([DOCKER, "builder", "prune", "-af"], capture_output=True, check=True)
        return
    nonce = f"{time.time_ns()}"
    lines = envd.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("base(")) + 1
    envd.write_text("".join(lines[:at] + [f'    run(commands=["echo {nonce} > /etc/bench-nonce"])\n'] + lines[at:]))
    dockerfile_path = work / "Dockerfile"
    lines = dockerfile_path.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("FROM ")) + 1
    dockerfile_path.write_text("".join(lines[:at] + [f"RUN echo {nonce} > /etc/bench-nonce\n"] + lines[at:]))


PHASES = ("cold", "cached", "append pip")


# Both branched examples' pip branch ends with six and tomli, in build.envd and the Dockerfile.
BRANCH_EDIT = ('"six", "tomli"]', '"six", "tomli", "{}"]', " six tomli\n", " six tomli {}\n")


def edit_one_branch(work: Path, envd: Path, package: str) -> None:
    """Add PACKAGE to the pip branch of a branched example and to its Dockerfile's pip stage."""
    old_envd, new_envd, old_docker, new_docker = BRANCH_EDIT
    envd.write_text(envd.read_text().replace(old_envd, new_envd.format(package)))
    dockerfile_path = work / "Dockerfile"
    dockerfile_path.write_text(dockerfile_path.read_text().replace(old_docker, new_docker.format(package)))


def sequence(command: list[str], work: Path, envd: Path, branched: bool = False) -> dict[str, float]:
    """Cold build (nothing cached: see make_cold), cached rebuild, then one pip package appended.

    The machine is shared and small: cached and appended times are medians of several rounds.
    """
    make_cold(envd, work)
    original_envd, original_dockerfile = envd.read_text(), (work / "Dockerfile").read_text()
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


def measure(example: Path, envtrack_command: list[str], branched: bool = False) -> dict[str, tuple[float, float]]:
    from envtrack.frontend import load_plan

    # A copy carries no state of the example's own (an old build stamp would make "cold" instant).
    work = Path(tempfile.mkdtemp(prefix="envtrack-bench-")) / NAME
    shutil.copytree(example, work, ignore=shutil.ignore_patterns(".envtrack"))
    envd = work / "build.envd"
    for path in (envd, work / "Dockerfile"):   # bench/ml-branched downloads from this run's server
        if path.exists():
            path.write_text(path.read_text().replace("{server}", SERVER))
    original_envd = envd.read_text()
    # the branched examples carry their own multi-stage Dockerfiles
    original_dockerfile = (work / "Dockerfile").read_text() if branched else dockerfile(load_plan(envd))
    envtrack = [*envtrack_command, "build", str(work), "--progress", "quiet"]
    docker = [DOCKER, "build", "-q", "-t", f"{NAME}-docker", str(work)]
    times = {}
    try:
        for name, command in (("envtrack", envtrack), ("docker", docker)):
            envd.write_text(original_envd)
            (work / "Dockerfile").write_text(original_dockerfile)
            times[name] = sequence(command, work, envd, branched)
    finally:
        remove_own_images()
        shutil.rmtree(work.parent, ignore_errors=True)
    return {phase: (times["envtrack"][phase], times["docker"][phase]) for phase in PHASES}


TARGETS = {"cold": 1.10, "cached": 1.0, "append pip": 1.0}
BRANCHED_TARGET = 0.80


SYSTEM_HOSTS = {"", "unix:///var/run/docker.sock", "unix:///run/docker.sock"}
SERVER = ""   # the loopback HTTP server's address (serve_tool_archive)


def tool_archive() -> bytes:
    """A prebuilt tool's release archive, the same bytes on every run: a launcher and 24 MB of data."""
    import random

    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as packed, tarfile.open(fileobj=packed, mode="w") as tar:
        for name, data, mode in (("bin/tool", b"#!/bin/sh\necho tool 1.0\n", 0o755),
                                 ("share/tool/model.bin", random.Random(25).randbytes(24 << 20), 0o644)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@contextmanager
def serve_tool_archive():
    """Serve tool_archive() at /tool.tar.gz on 127.0.0.1 (BuildKit's HTTP source runs in the host's network)."""
    global SERVER
    archive = tool_archive()
    etag = '"%s"' % hashlib.sha256(archive).hexdigest()[:16]

    class Handler(http.server.BaseHTTPRequestHandler):
        """As a release host answers: an ETag and Last-Modified, 304 to a request that names the
        ETag (BuildKit's revalidation, for envtrack's steps and the Dockerfile's ADD alike)."""

        def do_GET(self):
            if self.path != "/tool.tar.gz":
                self.send_error(404)
                return
            fresh = self.headers.get("If-None-Match") == etag
            self.send_response(304 if fresh else 200)
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", "Mon, 30 Nov 2026 12:00:00 GMT")
            if not fresh:
                self.send_header("Content-Length", str(len(archive)))
            self.end_headers()
            try:
                if not fresh:
                    self.wfile.write(archive)
            except (BrokenPipeError, ConnectionResetError):
                pass   # a client that wanted only the headers

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    SERVER = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield
    finally:
        server.shutdown()


def main(argv: list[str]) -> None:
    global PRUNE, PEER
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("examples", nargs="*", type=Path)
    parser.add_argument("--envtrack", type=Path, help="console script of a non-editable install")
    parser.add_argument("--prune", action="store_true", help="prune the whole build cache (unshared engines only)")
    parser.add_argument("--branched", action="store_true", help="the branched examples against multi-stage Dockerfiles")
    parser.add_argument("--prune-system-engine", action="store_true", help="let --branched prune the system Engine")
    options = parser.parse_args(argv)
    shared = os.environ.get("DOCKER_HOST", "") in SYSTEM_HOSTS and not options.prune_system_engine
    PRUNE = options.prune or (options.branched and not shared)
    PEER = options.branched and os.environ.get("DOCKER_HOST", "") not in SYSTEM_HOSTS
    examples = options.examples or ([ROOT / "examples" / "branched", ROOT / "bench" / "ml-branched"]
                                    if options.branched
                                    else [ROOT / "examples" / "quickstart", ROOT / "examples" / "large"])
    command = [str(options.envtrack.absolute())] if options.envtrack else [sys.executable, "-m", "envtrack"]
    python = str(options.envtrack.absolute().parent / "python") if options.envtrack else sys.executable
    floor = statistics.median(timed([python, "-c", "pass"], ROOT) for _ in range(5))
    print(f"envtrack: {' '.join(command)}; cold by {'pruning' if PRUNE else 'a nonce step'}; "
          f"python -c pass {floor:.3f} s; load average {os.getloadavg()[0]:.1f}")
    print(f"{'example':<12} {'phase':<11} {'envtrack s':>10} {'docker s':>9} {'ratio':>6}  target")
    with serve_tool_archive():
        for example in examples:
            report(example, measure(example, command, options.branched), options.branched)


def report(example: Path, figures: dict[str, tuple[float, float]], branched: bool) -> None:
    for phase, (mine, peer) in figures.items():
        target = BRANCHED_TARGET if branched else TARGETS[phase]
        verdict = "ok" if mine / peer <= target else "MISS"
        print(f"{example.name:<12} {phase:<11} {mine:>10.2f} {peer:>9.2f} {mine / peer:>6.2f}  <= {target:.2f} {verdict}",
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
