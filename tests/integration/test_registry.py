"""Images build.envd names come from registries, as `docker build` finds them, on real loopback
registries (tests/support/registry.py): a base only a registry has, credentials as the docker
CLI keeps them, envd's default base through the hub Engine's mirror, and a moved tag that
`up --locked` ignores."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import names_of, project_dir, run_cli
from support.registry import SYSTEM_ENGINE, push_local

BOOKWORM, BULLSEYE = "envtrack/base:bookworm", "envtrack/base:bullseye"


def docker(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], env={**os.environ, **(env or SYSTEM_ENGINE)}, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def pulled(docker_client):
    """References a test pulls into the system Engine, untagged again afterwards."""
    refs: list[str] = []
    yield refs
    for ref in refs:
        docker("rmi", "--no-prune", ref)


def write_envd(project: Path, base_ref: str, *lines: str) -> None:
    body = "".join(f"    {line}\n" for line in lines)
    (project / "build.envd").write_text(f'def build():\n    base(image="{base_ref}")\n{body}')


def build_json(project: Path, env: dict | None = None) -> tuple[subprocess.CompletedProcess, dict]:
    proc = run_cli("build", "--progress", "plain", "--json", cwd=project, env=env)
    return proc, (json.loads(proc.stdout) if proc.returncode == 0 else {})


def test_a_base_only_the_registry_has_is_pulled_and_its_digest_recorded(open_registry, scratch_project, pulled):
    ref = open_registry.ref(f"team/base:{uuid.uuid4().hex[:6]}")
    digest = push_local(BOOKWORM, ref)
    pulled.append(ref)
    assert docker("image", "inspect", ref).returncode != 0   # only the registry has it
    write_envd(scratch_project, ref, 'run(commands=["echo pulled > /pulled"])')

    proc, result = build_json(scratch_project)

    assert proc.returncode == 0, proc.stderr
    assert f"pull {ref}" in proc.stderr and "Pulling from team/base" in proc.stderr   # a row of the build view
    repository = ref.rsplit(":", 1)[0]
    assert result["images"][ref]["digest"] == f"{repository}@{digest}"
    labels = json.loads(docker("image", "inspect", result["image"]).stdout)[0]["Config"]["Labels"]
    assert json.loads(labels["envtrack.images"]) == {ref: f"{repository}@{digest}"}
    again, cached = build_json(scratch_project)   # answered from the stamp: the record stays
    assert cached["cached"] and cached["images"] == result["images"]


def test_pulls_take_credentials_as_the_docker_cli_keeps_them(auth_registry, scratch_project, pulled, tmp_path):
    logged_in = auth_registry.login(tmp_path / "docker")
    ref = auth_registry.ref(f"private/base:{uuid.uuid4().hex[:6]}")
    push_local(BOOKWORM, ref, docker_config=logged_in)
    pulled.append(ref)
    write_envd(scratch_project, ref)

    anonymous = run_cli("build", "--progress", "quiet", cwd=scratch_project,
                        env={"DOCKER_CONFIG": str(tmp_path / "nobody")})
    assert anonymous.returncode == 1
    last = anonymous.stderr.strip().splitlines()[-1]
    assert f"build.envd:2:5: cannot pull {ref}: {auth_registry.address}: unauthorized" in last
    assert last.endswith(f"run `docker login {auth_registry.address}`") and "Traceback" not in anonymous.stderr

    with_login = run_cli("build", "--progress", "quiet", cwd=scratch_project, env={"DOCKER_CONFIG": str(logged_in)})
    assert with_login.returncode == 0, with_login.stderr

    docker("rmi", "--no-prune", ref)   # again, through a credential helper this time
    helper_dir = tmp_path / "bin"
    helper_dir.mkdir()
    helper = helper_dir / "docker-credential-envtrack-test"
    helper.write_text("#!/bin/sh\nread server\n"
                      f'[ "$1" = get ] && [ "$server" = "{auth_registry.address}" ] || exit 1\n'
                      f"echo '{{\"ServerURL\": \"'$server'\", \"Username\": \"{auth_registry.username}\", "
                      f"\"Secret\": \"{auth_registry.password}\"}}'\n")
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    store = tmp_path / "store"
    store.mkdir()
    (store / "config.json").write_text(json.dumps({"credsStore": "envtrack-test"}))
    (scratch_project / "build.envd").write_text((scratch_project / "build.envd").read_text() + "    run(commands=['true'])\n")
    through_helper = run_cli("build", "--progress", "plain", cwd=scratch_project,
                             env={"DOCKER_CONFIG": str(store), "PATH": f"{helper_dir}:{os.environ['PATH']}"})
    assert through_helper.returncode == 0, through_helper.stderr
    assert f"pull {ref}" in through_helper.stderr


def test_a_missing_image_and_an_unreachable_registry_are_one_line_each(open_registry, scratch_project):
    for ref, reason in ((open_registry.ref("team/absent:1"), "not found"), ("127.0.0.1:9/team/base:1", "unreachable")):
        write_envd(scratch_project, ref)
        proc = run_cli("build", "--progress", "quiet", cwd=scratch_project)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert proc.stderr.strip().splitlines()[-1].startswith(
            f"envtrack: build.envd:2:5: cannot pull {ref}: {ref.split('/')[0]}: {reason} ("), proc.stderr



def test_a_registry_answering_plain_http_is_a_tls_failure_naming_the_fix(tmp_path, scratch_project):
    """A registry on an address the Engine does not treat as insecure (loopback is) that speaks
    plain HTTP: the Engine's HTTPS pull fails, and the line says TLS and what to change."""
    from support.gateway_http import GATEWAY
    from support.registry import free_port, start_registry

    registry = start_registry(tmp_path / "plain", address=f"{GATEWAY}:{free_port()}")
    try:
        ref = registry.ref("team/base:1")
        write_envd(scratch_project, ref)
        proc = run_cli("build", "--progress", "quiet", cwd=scratch_project)
    finally:
        registry.stop()
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"envtrack: build.envd:2:5: cannot pull {ref}: {registry.address}: TLS failure ("), last
    assert "insecure-registries" in last, last

def build_on_hub(hub_engine, tmp_path: Path, text: str, fresh: str) -> tuple[subprocess.CompletedProcess, dict]:
    """Build TEXT on the hub Engine after untagging FRESH there, so the build must pull it."""
    env = {**hub_engine.env(), "DOCKER_CONTEXT": ""}
    docker("rmi", fresh, env=env)
    project = tmp_path / f"hub-{uuid.uuid4().hex[:6]}"
    project.mkdir()
    (project / "build.envd").write_text(text)
    try:
        return build_json(project, env=env)
    finally:
        built = docker("images", "-q", names_of(project).image_repo, env=env).stdout.split()
        for image in built:
            docker("rmi", "-f", image, env=env)


def test_a_file_without_base_builds_from_envds_default_through_the_engines_mirror(hub_engine, tmp_path):
    text = 'def build():\n    run(commands=["echo default > /default"])\n'
    proc, result = build_on_hub(hub_engine, tmp_path, text, "ubuntu:22.04")
    assert proc.returncode == 0, proc.stderr
    assert "pull ubuntu:22.04" in proc.stderr
    assert result["images"]["ubuntu:22.04"]["digest"].startswith("ubuntu@sha256:")


def test_install_cuda_pulls_its_nvidia_cuda_image_like_any_base(hub_engine, tmp_path):
    image = "nvidia/cuda:11.6.2-cudnn8-runtime-ubuntu22.04"
    text = 'def build():\n    base(image="ubuntu:22.04")\n    install.cuda(version="11.6.2")\n'
    proc, result = build_on_hub(hub_engine, tmp_path, text, image)
    assert proc.returncode == 0, proc.stderr
    assert f"pull {image}" in proc.stderr and list(result["images"]) == [image]


def test_up_locked_builds_from_the_locked_digest_after_the_tag_moved(open_registry, docker_client, tmp_path_factory,
                                                                    pulled):
    ref = open_registry.ref(f"team/moving:{uuid.uuid4().hex[:6]}")
    repository = ref.rsplit(":", 1)[0]
    v1 = push_local(BOOKWORM, ref)
    pulled.append(ref)
    text = f'def build():\n    base(image="{ref}")\n    run(commands=["true"])\n'
    with project_dir(docker_client, tmp_path_factory, "moved", text) as project:
        status = json.loads(run_cli("status", "--json", cwd=project, check=True).stdout)
        assert status["images"] == {ref: f"{repository}@{v1}"}
        run_cli("snapshot", cwd=project, check=True)
        assert json.loads((project / "envtrack.lock").read_text().splitlines()[0])["images"] == {
            ref: f"{repository}@{v1}"}

        v2 = push_local(BULLSEYE, ref)   # the tag moves
        assert v2 != v1
        check = run_cli("snapshot", "--check", cwd=project)
        assert check.returncode == 1 and f"tag {ref} moved in its registry" in check.stdout, check.stdout
        docker("rmi", "--no-prune", ref)
        docker("rmi", "--no-prune", f"{repository}@{v1}")   # so the locked build pulls it by digest

        locked = run_cli("up", "--locked", "--progress", "plain", cwd=project)
        assert locked.returncode == 0, locked.stderr
        assert f"pull {repository}@{v1}" in locked.stderr
        assert debian_major(project) == "12"   # v1: bookworm, whatever the tag says now
        pulled.append(f"{repository}@{v1}")

        fresh = run_cli("up", "--pull", "--progress", "quiet", cwd=project)
        assert fresh.returncode == 0, fresh.stderr
        assert debian_major(project) == "11"   # the tag's image now: bullseye


def debian_major(project: Path) -> str:
    proc = run_cli("exec", "--", "cat", "/etc/debian_version", cwd=project, check=True)
    return proc.stdout.strip().split(".")[0]


def test_a_remote_engine_pulls_and_pushes_with_this_machines_credentials(peer_engine, auth_registry, tmp_path):
    """DOCKER_HOST=tcp:// with TLS: the remote Engine pulls the base and pushes the environment,
    with the login of this machine's DOCKER_CONFIG."""
    login = auth_registry.login(tmp_path / "docker")
    ref = auth_registry.ref(f"remote/base:{uuid.uuid4().hex[:6]}")
    push_local(BOOKWORM, ref, docker_config=login)
    remote = {**peer_engine.env("tcp"), "DOCKER_CONTEXT": "", "DOCKER_CONFIG": str(login)}
    project = tmp_path / f"remote-{uuid.uuid4().hex[:6]}"
    project.mkdir()
    write_envd(project, ref, 'run(commands=["echo remote > /remote"])')
    pushed_ref = auth_registry.ref(f"remote/env:{uuid.uuid4().hex[:6]}")
    try:
        proc, result = build_json(project, env=remote)
        assert proc.returncode == 0, proc.stderr
        assert f"pull {ref}" in proc.stderr and result["images"][ref]["digest"]
        pushed = run_cli("push", pushed_ref, "--progress", "quiet", cwd=project, env=remote)
        assert pushed.returncode == 0, pushed.stderr
        assert "from the image" in pushed.stdout   # nothing running: the built image
        repo, tag = pushed_ref.split("/", 1)[1].rsplit(":", 1)
        assert auth_registry.manifest_digest(repo, tag) == pushed.stdout.split("@")[1].split()[0]
    finally:
        peer = {**peer_engine.env(), "DOCKER_CONTEXT": ""}
        built = docker("images", "-q", names_of(project).image_repo, env=peer).stdout.split()
        for name in (pushed_ref, ref, *built):
            docker("rmi", "-f", name, env=peer)


def test_the_companion_agents_image_is_pulled_when_the_engine_lacks_it(open_registry, scratch_project, pulled):
    """An environment without python3 records through a companion whose image (ENVTRACK_AGENT_IMAGE,
    here only in the registry) is pulled by `up`, like every other image envtrack names."""
    ref = open_registry.ref(f"team/agent:{uuid.uuid4().hex[:6]}")
    push_local(BOOKWORM, ref)
    pulled.append(ref)
    assert docker("image", "inspect", ref).returncode != 0
    write_envd(scratch_project, "envtrack/base:bookworm-nopython")

    up = run_cli("up", "--progress", "quiet", cwd=scratch_project, env={"ENVTRACK_AGENT_IMAGE": ref})

    assert up.returncode == 0, up.stderr
    assert "agent started in companion container" in up.stdout, up.stdout
    assert docker("image", "inspect", ref).returncode == 0   # pulled into the Engine's store
    status = json.loads(run_cli("status", "--json", cwd=scratch_project, check=True).stdout)
    assert status["agent"] == "healthy", status
