"""The builtin registry: every envd v1 builtin by name, and every stage reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from envtrack.builtins import BUILTINS, CONTAINER, KIND_OF_MANAGER, MANAGER_OF_KIND
from envtrack.container.spec import Runtime, container_spec, runtime_of
from envtrack.errors import LocatedError, Position
from envtrack.frontend.steps import Plan, Step
from envtrack.llb.compile import compile_plan
from envtrack.llb.envd import base_image
from envtrack.llb.lower import LOWERINGS
from envtrack.llb.options import BuildOptions
from envtrack.project import Project

# envd v1's builtins, from its Starlark stubs (envd/api/v1) and the Go frontend's namespaces.
ENVD_V1 = """
base shell run git_config include
install.python install.conda install.pixi install.uv install.r_lang install.julia install.rust install.go
install.nodejs install.codex install.apt_packages install.python_packages install.conda_packages
install.r_packages install.julia_packages install.vscode_extensions install.cuda
config.apt_source config.jupyter config.pip_index config.conda_channel config.entrypoint config.gpu
config.shm_size config.cran_mirror config.julia_pkg_server config.rstudio_server config.repo config.owner
io.copy io.http
runtime.command runtime.daemon runtime.expose runtime.environ runtime.mount runtime.init
data.envd
""".split()


def step(line: int, kind: str, **args) -> Step:
    from envtrack.frontend.builtins import bind_arguments

    return Step(kind, bind_arguments(BUILTINS[kind], (), args), Position("build.envd", line, 5))


def plan(*steps: Step) -> Plan:
    return Plan(file="build.envd", target="build", steps=steps)


def test_every_envd_v1_builtin_is_known() -> None:
    assert sorted(ENVD_V1) == sorted(b.kind for b in BUILTINS.values() if b.envd)


def test_every_builtin_that_makes_a_step_has_a_lowering() -> None:
    evaluated = {"include", "data.envd"}
    assert {kind for kind in BUILTINS} - evaluated <= LOWERINGS.keys()


def test_package_managers_have_one_home() -> None:
    assert MANAGER_OF_KIND == {"install.apt_packages": "apt", "install.python_packages": "pip",
                               "install.conda_packages": "conda"}
    assert KIND_OF_MANAGER["pip"] == "install.python_packages"


def test_envd_defaults() -> None:
    assert BUILTINS["base"].params[0].default == "ubuntu:22.04"
    assert [p.name for p in BUILTINS["install.cuda"].params] == ["version", "cudnn"]
    assert BUILTINS["install.uv"].params[0].default == "3.11"


@pytest.mark.parametrize(("image", "dev", "expected"), [
    ("ubuntu:22.04", False, "nvidia/cuda:11.6.2-cudnn8-runtime-ubuntu22.04"),
    ("ubuntu:20.04", True, "nvidia/cuda:11.6.2-cudnn8-devel-ubuntu20.04"),
])
def test_install_cuda_chooses_the_base_image_as_envd(image: str, dev: bool, expected: str) -> None:
    assert base_image(plan(step(2, "base", image=image, dev=dev), step(3, "install.cuda", version="11.6.2"))) == expected


def test_install_cuda_refuses_bases_no_cuda_image_exists_for() -> None:
    with pytest.raises(LocatedError) as caught:
        base_image(plan(step(2, "base", image="envtrack/base:bookworm"), step(3, "install.cuda", version="12.2.0")))
    assert caught.value.position.line == 3 and "ubuntu:<release>" in caught.value.reason


def test_io_http_is_a_checksummed_buildkit_source() -> None:
    checksum = "sha256:" + "ab" * 32
    compiled = compile_plan(plan(step(2, "base", image="envtrack/base:bookworm"),
                                 step(3, "io.http", url="http://127.0.0.1:9/f.txt", checksum=checksum)))
    assert b"http://127.0.0.1:9/f.txt" in compiled.definition and checksum.encode() in compiled.definition


def test_entrypoint_goes_into_the_image_config() -> None:
    compiled = compile_plan(plan(step(2, "config.entrypoint", args=["date", "-u"])))
    assert compiled.image_config.entrypoint == ("date", "-u")
    assert 'ENTRYPOINT ["date", "-u"]' in compiled.image_config.to_dockerfile("raw").splitlines()


def test_a_toolchain_is_downloaded_from_envds_upstream_for_the_engines_architecture() -> None:
    compiled = compile_plan(plan(step(2, "install.go", version="1.22")), BuildOptions(arch="arm64"))
    assert b"https://go.dev/dl/go1.22.linux-arm64.tar.gz" in compiled.definition
    assert b"cannot be reached" not in compiled.definition


def test_runtime_settings_come_from_the_steps(tmp_path: Path) -> None:
    runtime = runtime_of([
        step(2, "runtime.mount", host_path="data", envd_path="~/data"),
        step(3, "runtime.init", commands=["echo a", "echo b"]),
        step(4, "runtime.daemon", commands=[["python3", "-m", "http.server", ">>log", "2>&1"]]),
        step(5, "config.gpu", count=2), step(6, "config.shm_size", size=512),
        step(7, "config.jupyter", token="secret", port=18888),
    ], tmp_path, "/home/me")
    assert runtime.mounts[0].host == str(tmp_path / "data") and runtime.mounts[0].target == "/root/data"
    assert runtime.gpus == 2 and runtime.shm_size_mb == 512
    assert runtime.daemons[0] == "python3 -m http.server >>log 2>&1"
    assert "--ServerApp.token=secret" in runtime.daemons[1]
    assert runtime.ports[0].container_port == "8888/tcp" and runtime.ports[0].host_port == 18888
    script = runtime.main_command()[2]
    assert "echo a && echo b" in script and script.endswith("exec sleep infinity")


def test_container_kwargs_request_gpus_and_shared_memory(tmp_path: Path) -> None:
    (tmp_path / "build.envd").write_text("def build():\n    pass\n")
    spec = container_spec(Project(tmp_path / "build.envd"), "img", "sha256:x",
                          [step(2, "config.gpu", count=1), step(3, "config.shm_size", size=64)],
                          bundle_dir=tmp_path, host_ca=None)
    kwargs = spec.run_kwargs()
    assert kwargs["device_requests"][0]["Count"] == 1 and kwargs["shm_size"] == 64 * 1024 * 1024


def test_specs_without_runtime_settings_keep_their_command_and_fingerprint(tmp_path: Path) -> None:
    (tmp_path / "build.envd").write_text("def build():\n    pass\n")
    spec = container_spec(Project(tmp_path / "build.envd"), "img", "sha256:x", [], bundle_dir=tmp_path, host_ca=None)
    assert spec.runtime == Runtime() and spec.run_kwargs()["command"] == ["sleep", "infinity"]


def test_container_stage_builtins_add_no_vertex() -> None:
    only_base = compile_plan(plan(step(2, "base", image="envtrack/base:bookworm")))
    for kind in [k for k, b in BUILTINS.items() if b.stage == CONTAINER]:
        args = {"runtime.daemon": {"commands": [["true"]]}, "config.shm_size": {"size": 1}}.get(kind, {})
        compiled = compile_plan(plan(step(2, "base", image="envtrack/base:bookworm"), step(3, kind, **args)))
        assert compiled.digest == only_base.digest, kind


def test_the_build_stamp_fingerprints_the_host_files_install_steps_read(tmp_path: Path) -> None:
    from envtrack.llb.host import tracked_paths

    pip = step(2, "install.python_packages", requirements="requirements.txt", local_wheels=["a.whl"])
    assert tracked_paths(pip, tmp_path) == [tmp_path / "requirements.txt", tmp_path / "a.whl"]
    assert tracked_paths(step(3, "io.copy", host_path="src", envd_path="/src"), tmp_path) is None
    assert tracked_paths(step(4, "io.copy", host_path="/bin/sh", envd_path="/sh", image="x"), tmp_path) == []
    # no host file: the stamp asks its server again instead (envtrack.solve.unpinned)
    assert tracked_paths(step(5, "io.http", url="http://127.0.0.1/x"), tmp_path) == []
    assert tracked_paths(step(6, "run", commands=["true"], mount_host=True), tmp_path) is None
