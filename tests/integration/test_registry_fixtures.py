"""The loopback registries and the hub Engine the registry tests stand in for the internet with."""

from __future__ import annotations

import subprocess

from support.registry import push_local


def test_the_auth_registry_refuses_anonymous_pushes_and_takes_a_login(auth_registry, tmp_path) -> None:
    ref = auth_registry.ref("fixture/base:1")
    subprocess.run(["docker", "tag", "envtrack/base:bookworm", ref], check=True)
    try:
        anonymous = subprocess.run(["docker", "--config", str(tmp_path / "nobody"), "push", ref],
                                   capture_output=True, text=True)
    finally:
        subprocess.run(["docker", "rmi", "--no-prune", ref], capture_output=True)
    assert anonymous.returncode != 0 and "no basic auth credentials" in anonymous.stderr
    digest = push_local("envtrack/base:bookworm", ref, docker_config=auth_registry.login(tmp_path / "docker"))
    assert auth_registry.manifest_digest("fixture/base", "1") == digest


def test_the_hub_engine_pulls_unqualified_names_from_its_mirror(hub_engine) -> None:
    env = {**hub_engine.env(), "DOCKER_CONTEXT": ""}
    subprocess.run(["docker", "rmi", "ubuntu:22.04"], env=env, capture_output=True)
    pulled = subprocess.run(["docker", "pull", "ubuntu:22.04"], env=env, capture_output=True, text=True, timeout=300)
    assert pulled.returncode == 0, pulled.stderr
    assert "docker.io/library/ubuntu:22.04" in pulled.stdout
