"""Benchmark snapshots and diffs (run on demand: `python bench/snapshot.py`).

1. Snapshot of a running container with >= 300 dpkg and >= 150 pip packages, against
   `dpkg-query -W` plus `pip list --format=freeze` in the same container, same run
   (target: ratio <= 1.5). The container's image is built once (apt + pip installs on the
   local base image, committed as envtrack/bench-snapshot:2) and reused afterwards.
2. Diff of two synthetic 5,000-package locks, parse + diff + render (target: < 100 ms).
"""

from __future__ import annotations

import dataclasses
import io
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from envtrack.records import Package  # noqa: E402
from envtrack.snapshot.diff import diff_packages  # noqa: E402
from envtrack.snapshot.lock import ImageRef, Lock, parse_lock, render_lock  # noqa: E402
from envtrack.snapshot.report import Side, render_text  # noqa: E402

BASE = "envtrack/base:bookworm"
IMAGE = "envtrack/bench-snapshot:2"
CA_PATH = "/etc/envtrack/host-ca.crt"   # its own path: installing ca-certificates rewrites the default bundle
APT = ["python3-pip", "python3-venv", "git", "curl", "jq", "build-essential", "python3-numpy", "less", "procps",
       "python3-matplotlib", "vim", "openssh-client", "iproute2", "gdb"]
PIP = ["jupyterlab", "pandas", "requests", "flask", "sqlalchemy", "pytest", "black", "httpx", "rich",
       "typer", "pydantic", "boto3", "pyyaml", "click", "tqdm", "attrs", "fastapi", "mypy",
       "poetry", "sphinx", "django", "tox"]
ENV = {"PIP_CERT": CA_PATH, "SSL_CERT_FILE": CA_PATH, "REQUESTS_CA_BUNDLE": CA_PATH,
       "DEBIAN_FRONTEND": "noninteractive", "PIP_BREAK_SYSTEM_PACKAGES": "1", "PIP_NO_CACHE_DIR": "1",
       "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def main() -> None:
    import docker

    client = docker.from_env(timeout=1800)
    ensure_image(client)
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / f"bench-snapshot-{os.getpid()}"
        project.mkdir()
        (project / "build.envd").write_text(f'def build():\n    base(image="{BASE}")\n')
        container = client.containers.run(IMAGE, ["sleep", "infinity"], detach=True, remove=True,
                                          name=f"envtrack-{project.name}", environment=ENV,
                                          labels={"envtrack.role": "bench"})
        try:
            bench_snapshot(container)
            bench_cli(project)
        finally:
            container.kill()
    bench_diff()


def ensure_image(client) -> None:
    import docker

    try:
        client.images.get(IMAGE)
        return
    except docker.errors.ImageNotFound:
        pass
    print(f"building {IMAGE} once (apt + pip installs; a few minutes)...", flush=True)
    builder = client.containers.run(BASE, ["sleep", "infinity"], detach=True, environment=ENV)
    try:
        builder.put_archive("/", _ca_tar())
        _exec(builder, ["apt-get", "update", "-q"])
        _exec(builder, ["apt-get", "install", "-y", "-q", *APT])
        _exec(builder, ["python3", "-m", "pip", "install", "-q", *PIP])
        builder.commit(*IMAGE.split(":"))
    finally:
        builder.remove(force=True)


def _ca_tar() -> bytes:
    data = Path("/etc/ssl/certs/ca-certificates.crt").read_bytes()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(CA_PATH.lstrip("/"))
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _exec(container, command: list[str]) -> bytes:
    code, output = container.exec_run(command)
    if code != 0:
        raise SystemExit(f"{' '.join(command)} failed ({code}):\n{output.decode()[-2000:]}")
    return output


def bench_snapshot(container, rounds: int = 7) -> None:
    from envtrack.snapshot.sources import inventory_of_container

    dpkg = len(_exec(container, ["dpkg-query", "-W"]).splitlines())
    pip = len(_exec(container, ["python3", "-m", "pip", "list", "--format=freeze"]).splitlines())
    ours, theirs = [], []
    for _ in range(rounds):  # interleaved, so both see the same page cache and load
        start = time.perf_counter()
        packages = inventory_of_container(container)
        render_lock(Lock(packages, image=ImageRef(IMAGE, container.image.id)))
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        _exec(container, ["dpkg-query", "-W"])
        _exec(container, ["python3", "-m", "pip", "list", "--format=freeze"])
        theirs.append(time.perf_counter() - start)
    counts = {m: sum(1 for p in packages if p.manager == m) for m in ("apt", "pip", "conda")}
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(f"container: {dpkg} dpkg packages, {pip} pip packages (pip list); snapshot saw {counts}")
    print(f"snapshot (exec the records package + parse + render): median {statistics.median(ours) * 1000:.0f} ms")
    print(f"dpkg-query -W + pip list --format=freeze:    median {statistics.median(theirs) * 1000:.0f} ms")
    print(f"ratio {ratio:.2f} (target <= 1.5): {'OK' if ratio <= 1.5 else 'MISSED'}")


def bench_cli(project: Path, rounds: int = 5) -> None:
    """The whole command as a user runs it: process start, exec, lock written."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "envtrack", "snapshot", str(project)], check=True,
                       capture_output=True)
        times.append(time.perf_counter() - start)
    size = (project / "envtrack.lock").stat().st_size
    print(f"`envtrack snapshot` end to end (new process, lock {size // 1024} KiB): "
          f"median {statistics.median(times) * 1000:.0f} ms")


def synthetic_packages(size: int = 5000, seed: int = 1) -> list[Package]:
    rng = random.Random(seed)
    envs = {"apt": "/", "pip": "/usr/local/lib/python3.11/dist-packages", "conda": "/opt/conda"}
    packages = []
    for i in range(size):
        manager = ("apt", "apt", "pip", "conda")[i % 4]
        packages.append(Package(manager, f"package-{i:05d}", f"{i % 13}.{rng.randrange(40)}.0", envs[manager],
                                rng.random() < 0.1, arch="amd64" if manager == "apt" else "",
                                build="py311_0" if manager == "conda" else ""))
    return packages


def drifted(packages: list[Package], share: float, seed: int = 2) -> list[Package]:
    """A teammate's copy: SHARE of the packages upgraded, removed or replaced by new ones."""
    rng = random.Random(seed)
    out = []
    for i, package in enumerate(packages):
        roll = rng.random()
        if roll >= share:
            out.append(package)
        elif roll < share / 3:
            out.append(dataclasses.replace(package, version=package.version + ".post1"))
        elif roll < 2 * share / 3:
            out.append(dataclasses.replace(package, name=f"added-{i:05d}"))
        # else: removed
    return out


def bench_diff(rounds: int = 20) -> None:
    base = synthetic_packages()
    for share in (0.05, 1.0):
        text_a = render_lock(Lock(tuple(base)))
        text_b = render_lock(Lock(tuple(drifted(base, share))))
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            a, b = parse_lock(text_a, "a.lock"), parse_lock(text_b, "b.lock")
            result = diff_packages(a.packages, b.packages)
            render_text(result, Side("a.lock", a), Side("b.lock", b))
            times.append(time.perf_counter() - start)
        print(f"diff of two locks ({len(a.packages)} and {len(b.packages)} packages; "
              f"{result.count('added')} added, {result.count('removed')} removed, "
              f"{result.count('changed')} changed), parse + diff + render: "
              f"median {statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms (target < 100 ms)")


if __name__ == "__main__":
    main()
