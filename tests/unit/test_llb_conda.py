"""install.conda lowers to envd's Miniconda installer (with envd's checksums) or, with
use_mamba=True, micromamba, mirrored by the mirror table, whose channel alias the rc files
get; envtrack's py-rattler command only when ENVTRACK_CONDA=rattler asks for it."""

from __future__ import annotations

import pytest

from envtrack.errors import EnvtrackError
from envtrack.llb import conda
from envtrack.llb.options import BuildOptions, conda_tool
from envtrack.mirrors import combine
from tests.unit.test_llb_compile import base, compile_steps, env_of, ops, op_of, step
from tests.unit.test_llb_toolchains import http_sources

MIRRORS = combine("https://repo.anaconda.com/=http://m/anaconda/ https://github.com/=http://m/gh/ "
                  "https://conda.anaconda.org/=http://m/conda/", None, "cfg")


def compiled(use_mamba: bool = False, *, arch: str = "amd64", mirrors=None, tool: str = "installer"):
    options = BuildOptions(arch=arch, mirrors=mirrors or combine(None, None, ""), conda_tool=tool)
    return compile_steps(base(), step(2, "install.conda", use_mamba=use_mamba),
                         step(3, "install.conda_packages", name=["numpy"], channel=[], env_file=""), options=options)


def scripts_of(compiled_build) -> str:
    return "\n".join(op.exec.meta.args[2] for op in ops(compiled_build).values() if op.WhichOneof("op") == "exec")


def written(compiled_build) -> dict[str, bytes]:
    return {a.mkfile.path: a.mkfile.data for op in ops(compiled_build).values()
            for a in op.file.actions if a.HasField("mkfile")}


@pytest.mark.parametrize("arch, machine, checksum", [
    ("amd64", "x86_64", "238abad23f8d4d8ba89dd05df0b0079e278909a36e06955f12bbef4aa94e6131"),
    ("arm64", "aarch64", "4e0723b9d76aa491cf22511dac36f4fdec373e41d2a243ff875e19b8df39bf94"),
])
def test_miniconda_is_envds_installer_with_envds_checksum(arch, machine, checksum):
    sources = http_sources(compiled(arch=arch))
    url = f"https://repo.anaconda.com/miniconda/Miniconda3-py311_25.9.1-1-Linux-{machine}.sh"
    assert sources == {url: {"http.checksum": f"sha256:{checksum}", "http.filename": "miniconda.sh"}}
    build = compiled(arch=arch)
    script = scripts_of(build)
    assert "bash /tmp/envtrack-download/miniconda.sh -b -u -p /opt/conda" in script
    assert "/opt/conda/bin/conda clean -afy" in script
    files = written(build)
    assert files["/opt/conda/.condarc"] == conda.ENVD_CONDARC.encode()
    assert "/opt/conda/envs/envd/conda-meta/history" in files
    assert "/opt/conda/bin/conda" not in files     # the installer's own conda, not envtrack's
    assert env_of(op_of(build, "install.conda_packages"))["PATH"].startswith("/opt/conda/envs/envd/bin:/opt/conda/bin:")


def test_a_mirror_table_moves_the_installer_and_the_channel_alias():
    build = compiled(mirrors=MIRRORS)
    assert list(http_sources(build)) == ["http://m/anaconda/miniconda/Miniconda3-py311_25.9.1-1-Linux-x86_64.sh"]
    condarc = written(build)["/opt/conda/.condarc"].decode()
    assert "  - http://m/conda/conda-forge/" in condarc and "channel_alias: http://m/conda/" in condarc
    assert "anaconda.org" not in condarc


def test_use_mamba_is_micromamba_as_envd_installs_it():
    build = compiled(use_mamba=True, mirrors=MIRRORS)
    assert list(http_sources(build)) == [
        "http://m/gh/mamba-org/micromamba-releases/releases/download/2.3.3-0/micromamba-linux-64"]
    assert list(http_sources(compiled(use_mamba=True, arch="arm64"))) == [
        "https://github.com/mamba-org/micromamba-releases/releases/download/2.3.3-0/micromamba-linux-aarch64"]
    script = scripts_of(build)
    assert "update-alternatives --install /usr/bin/conda conda /opt/conda/bin/micromamba 1" in script
    files = written(build)
    assert files["/opt/conda/.mambarc"].decode() == conda.ENVD_MAMBARC + "channel_alias: http://m/conda/\n"
    packages = op_of(build, "install.conda_packages")
    assert env_of(packages)["MAMBA_ROOT_PREFIX"] == "/opt/conda"
    assert build.image_config.env_dict()["MAMBA_TARGET_PREFIX"] == "/opt/conda"


def test_the_rattler_command_only_when_asked_for():
    build = compiled(tool="rattler")
    assert http_sources(build) == {}
    assert written(build)["/opt/conda/bin/conda"].startswith(b"#!/opt/envtrack/conda-tool/bin/python\n")
    assert conda_tool({}) == "installer" and conda_tool({"ENVTRACK_CONDA": "rattler"}) == "rattler"
    with pytest.raises(EnvtrackError) as caught:
        conda_tool({"ENVTRACK_CONDA": "pixi"})
    assert "ENVTRACK_CONDA='pixi'" in str(caught.value)


def test_install_python_hands_micromamba_and_conda_forge_the_mirrored_urls():
    options = BuildOptions(mirrors=MIRRORS)
    build = compile_steps(base(), step(2, "install.python", version="3.12"), options=options)
    script = scripts_of(build)
    url = "http://m/gh/mamba-org/micromamba-releases/releases/download/2.3.3-0/micromamba-linux-64"
    assert f"curl -fsSL -o /tmp/envtrack-micromamba {url}" in script
    assert "create -y -p /opt/conda/envs/envd --channel-alias http://m/conda/ -c conda-forge python=3.12" in script
    assert http_sources(build) == {}     # fetched by the step only when no local Python is that version
    assert build.downloads == ()          # a fallback, not listed by plan --json
