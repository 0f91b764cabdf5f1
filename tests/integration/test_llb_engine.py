"""The LLB compile_plan emits, solved by the real engine through build_project.

One lean project exercises what the lowering promises: steps in the user's order,
apt and pip behind the host CA bundle (mounted, never baked), a venv on PATH, host
files embedded with io.copy, and byte-identical definitions giving a cached rebuild.
"""

from __future__ import annotations

import uuid

import pytest

from envtrack.project import Project

ENVD = """\
def build():
    base(image="envtrack/base:bookworm", dev=False)
    run(commands=["echo first > /order"])
    install.python()
    install.apt_packages(name=["jq"])
    io.copy(host_path="conf", envd_path="/etc/llbtest")
    install.python_packages(name=["six"], requirements="requirements.txt")
    run(commands=["echo last >> /order", "test -f /run/envtrack/ca.pem", "python -c 'import six, tomli'"])
    runtime.environ(env={"LLBTEST": "1"})
"""


@pytest.fixture(scope="module")
def built(docker_client, tmp_path_factory):
    from envtrack.solve.service import build_project

    directory = tmp_path_factory.mktemp("llb") / f"llbtest-{uuid.uuid4().hex[:8]}"
    (directory / "conf").mkdir(parents=True)
    (directory / "conf" / "app.cfg").write_text("answer=42\n")
    (directory / "requirements.txt").write_text("tomli\n")
    (directory / "build.envd").write_text(ENVD)
    project = Project.find(directory)
    result = build_project(project, progress="plain")
    yield project, result
    docker_client.images.remove(result.image_id, force=True)


def run_in(docker_client, image: str, script: str) -> str:
    return docker_client.containers.run(image, ["/bin/sh", "-c", script], entrypoint=[], remove=True).decode()


def test_steps_ran_in_order_with_packages_from_apt_and_pip(docker_client, built):
    _, result = built
    output = run_in(docker_client, result.image,
                    "cat /order; jq --version; cat /etc/llbtest/app.cfg;"
                    " /opt/envtrack/venv/bin/python -c 'import six, tomli; print(\"pip-ok\")'")
    assert output.splitlines() == ["first", "last", "jq-1.6", "answer=42", "pip-ok"]


def test_the_ca_bundle_is_mounted_for_the_build_but_not_baked(docker_client, built):
    _, result = built
    output = run_in(docker_client, result.image, "cat /run/envtrack/ca.pem 2>/dev/null | wc -c; env")
    assert output.splitlines()[0] == "0"
    # The image inherits the base image's own env (envtrack's base trusts the host CA at
    # /etc/envtrack), but nothing points at the build-time mount.
    assert "/run/envtrack" not in output


def test_image_config_puts_the_venv_on_path(docker_client, built):
    _, result = built
    env = dict(e.split("=", 1) for e in docker_client.images.get(result.image_id).attrs["Config"]["Env"])
    assert env["PATH"].startswith("/opt/envtrack/venv/bin:")
    assert env["LLBTEST"] == "1"


def test_an_unchanged_project_rebuilds_fully_cached(built):
    from envtrack.solve.service import build_project

    project, first = built
    again = build_project(project, progress="plain")
    assert again.cached
