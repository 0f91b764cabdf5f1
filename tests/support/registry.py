"""Container registries on loopback for integration tests: Debian's `docker-registry`
(Distribution 2.8), the server Docker Hub and most private registries run.

Users pull bases from registries and share environments through them; these machines reach
none, so the tests start real ones on 127.0.0.1 (Engines treat 127.0.0.0/8 as an insecure,
plain-HTTP registry without configuration):

- `start_registry(root)`: a registry with its own config and storage under ROOT, on a free
  port; `auth=True` puts it behind htpasswd (bcrypt, `htpasswd -B`), as a private registry is.
- `push_local(image, ref)`: a local image of the system Engine pushed under any name.
- `ensure_hub_mirror()`: the long-lived registry at HUB_MIRROR_ADDRESS standing in for Docker
  Hub (`library/ubuntu:22.04`, `library/python:3.11-slim`, an `nvidia/cuda` image), for the peer Engine `hub` started
  with `--registry-mirror` pointing at it; it outlives the session, like the peer Engines.

`ensure_tools()` apt-installs docker-registry and apache2-utils when missing (root), so a fresh
CI machine needs nothing done by hand.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REGISTRY_BIN = "/usr/bin/docker-registry"
HTPASSWD_BIN = "/usr/bin/htpasswd"
SYSTEM_ENGINE = {"DOCKER_HOST": "unix:///var/run/docker.sock", "DOCKER_CONTEXT": ""}
USERNAME, PASSWORD = "teammate", "s3cret-registry-pass"

# The Docker Hub stand-in: a fixed address, because the hub Engine's --registry-mirror names it.
HUB_MIRROR_ADDRESS = "127.0.0.1:23765"
HUB_MIRROR_ROOT = Path("/var/lib/envtrack-peer/hub-registry")
HUB_MIRROR_PIDFILE = Path("/run/envtrack-peer/hub-registry.pid")
# What Docker Hub would serve, made from the local bases (nothing here can download the real ones).
HUB_IMAGES = {"library/ubuntu:22.04": "envtrack/base:bookworm", "library/python:3.11-slim": "envtrack/base:bookworm",
              "nvidia/cuda:11.6.2-cudnn8-runtime-ubuntu22.04": "envtrack/base:bookworm"}


class RegistryError(Exception):
    """A registry could not be installed, started or filled; the message says which and why."""


@dataclass
class Registry:
    address: str                  # 127.0.0.1:PORT, the registry part of an image reference
    root: Path                    # config, storage and log
    process: subprocess.Popen | None
    username: str = ""            # set when the registry wants htpasswd credentials
    password: str = ""

    def ref(self, name: str) -> str:
        """NAME (`team/base:1`) as a reference into this registry."""
        return f"{self.address}/{name}"

    def login(self, docker_config: Path) -> Path:
        """`docker login` into DOCKER_CONFIG (a directory), as a user does; returns it."""
        docker_config.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["docker", "--config", str(docker_config), "login", "-u", self.username,
                               "--password-stdin", self.address], input=self.password, text=True,
                              capture_output=True, env={**os.environ, **SYSTEM_ENGINE}, timeout=60)
        if proc.returncode != 0:
            raise RegistryError(f"docker login {self.address} failed: {proc.stderr.strip()}")
        return docker_config

    def manifest_digest(self, name: str, tag: str) -> str | None:
        """The registry's current digest of NAME:TAG (Docker-Content-Digest), None when it has none."""
        request = urllib.request.Request(f"http://{self.address}/v2/{name}/manifests/{tag}", method="HEAD", headers={
            "Accept": "application/vnd.docker.distribution.manifest.v2+json, "
                      "application/vnd.docker.distribution.manifest.list.v2+json, "
                      "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"})
        if self.username:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.headers.get("Docker-Content-Digest")
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def ensure_tools() -> None:
    """Install docker-registry and apache2-utils (htpasswd) unless both are there. Idempotent."""
    if os.access(REGISTRY_BIN, os.X_OK) and os.access(HTPASSWD_BIN, os.X_OK):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"],
                    ["apt-get", "install", "-y", "-q", "--no-install-recommends", "docker-registry", "apache2-utils"]):
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise RegistryError(f"{' '.join(command)} failed: {proc.stderr.strip()[-500:]}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_config(root: Path, address: str, *, auth: bool) -> Path:
    """A registry config of its own: storage under ROOT, listening on ADDRESS, htpasswd when AUTH."""
    (root / "storage").mkdir(parents=True, exist_ok=True)
    lines = ["version: 0.1", "log:", "  level: warn", "storage:", "  filesystem:", f"    rootdirectory: {root / 'storage'}",
             "  delete:", "    enabled: true", "http:", f"  addr: {address}"]
    if auth:
        hashed = subprocess.run([HTPASSWD_BIN, "-nbB", USERNAME, PASSWORD], capture_output=True, text=True, check=True)
        (root / "htpasswd").write_text(hashed.stdout.strip() + "\n")
        lines += ["auth:", "  htpasswd:", "    realm: envtrack-test", f"    path: {root / 'htpasswd'}"]
    config = root / "config.yml"
    config.write_text("\n".join(lines) + "\n")
    return config


def start_registry(root: Path, *, auth: bool = False, address: str | None = None, detached: bool = False) -> Registry:
    """A registry serving from ROOT on ADDRESS (a free loopback port unless given), answering
    before this returns. DETACHED: in its own session, outliving this process."""
    ensure_tools()
    address = address or f"127.0.0.1:{free_port()}"
    config = write_config(root, address, auth=auth)
    log = open(root / "registry.log", "ab")
    process = subprocess.Popen([REGISTRY_BIN, "serve", str(config)], stdin=subprocess.DEVNULL, stdout=log,
                               stderr=log, start_new_session=detached)
    log.close()
    registry = Registry(address, root, process, *((USERNAME, PASSWORD) if auth else ("", "")))
    wait_until_answering(registry)
    return registry


def answers(address: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}/v2/", timeout=2):
            return True
    except urllib.error.HTTPError as error:
        return error.code == 401   # up, wanting credentials
    except OSError:
        return False


def wait_until_answering(registry: Registry, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if answers(registry.address):
            return
        if registry.process is not None and registry.process.poll() is not None:
            break
        time.sleep(0.1)
    log = (registry.root / "registry.log").read_text(errors="replace")[-800:]
    raise RegistryError(f"docker-registry on {registry.address} did not answer: {log}")


def docker(*args: str, env: dict | None = None, input: str | None = None, timeout: int = 600) -> str:
    proc = subprocess.run(["docker", *args], env={**os.environ, **SYSTEM_ENGINE, **(env or {})}, input=input,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RegistryError(f"docker {' '.join(args)} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def push_local(image: str, ref: str, *, docker_config: Path | None = None) -> str:
    """Push the system Engine's IMAGE as REF (a temporary tag, removed again); the pushed digest."""
    config = ["--config", str(docker_config)] if docker_config else []
    docker("tag", image, ref)
    try:
        out = docker(*config, "push", ref)
    finally:
        docker("rmi", "--no-prune", ref)
    digests = [word for word in out.split() if word.startswith("sha256:")]
    if not digests:
        raise RegistryError(f"docker push {ref} printed no digest: {out[-300:]}")
    return digests[-1]


def ensure_hub_mirror() -> Registry:
    """The Docker Hub stand-in at HUB_MIRROR_ADDRESS, started (detached) unless it answers,
    holding HUB_IMAGES. A rerun against a running, filled mirror only checks."""
    registry = Registry(HUB_MIRROR_ADDRESS, HUB_MIRROR_ROOT, None)
    if not answers(HUB_MIRROR_ADDRESS):
        HUB_MIRROR_ROOT.mkdir(parents=True, exist_ok=True)
        HUB_MIRROR_PIDFILE.parent.mkdir(parents=True, exist_ok=True)
        started = start_registry(HUB_MIRROR_ROOT, address=HUB_MIRROR_ADDRESS, detached=True)
        HUB_MIRROR_PIDFILE.write_text(f"{started.process.pid}\n")
    for name, source in HUB_IMAGES.items():
        repo, tag = name.rsplit(":", 1)
        if registry.manifest_digest(repo, tag) is None:
            push_local(source, registry.ref(name))
    return registry


def stop_hub_mirror() -> None:
    """Stop the detached Docker Hub stand-in (its storage stays)."""
    if HUB_MIRROR_PIDFILE.exists():
        try:
            os.kill(int(HUB_MIRROR_PIDFILE.read_text()), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass
        HUB_MIRROR_PIDFILE.unlink()


def docker_config_with(auths: dict[str, tuple[str, str]], directory: Path, **extra) -> Path:
    """A DOCKER_CONFIG directory whose config.json holds AUTHS (registry -> user, password) plus EXTRA keys."""
    directory.mkdir(parents=True, exist_ok=True)
    entries = {host: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
               for host, (user, password) in auths.items()}
    (directory / "config.json").write_text(json.dumps({"auths": entries, **extra}))
    return directory
