"""install.conda and config.conda_channel, as envd's pkg/lang/ir/v1/conda.go.

envd installs Miniconda (its installer script, sha256-checked, run with `-b -u -p
/opt/conda`) or, with `use_mamba=True`, the micromamba binary as /opt/conda/bin/micromamba
(and /usr/bin/conda through update-alternatives), with its .condarc/.mambarc, and keeps the
environment `envd` in /opt/conda/envs/envd. envtrack downloads the same files through
BuildKit's HTTP source (Context.download: the mirror table applied, envd's checksums
verified) and writes the same files. The rc files get the mirror table too: a mirrored
`https://conda.anaconda.org/` becomes their channel_alias, so `conda-forge` and every named
channel come from the mirror.

With ENVTRACK_CONDA=rattler (BuildOptions.conda_tool), and only then, envtrack installs its
own conda-compatible command instead (conda_command.py, on py-rattler from the Python package
index) at the same paths, for machines no conda installer download reaches.
"""

from __future__ import annotations

from pathlib import Path

from envtrack.errors import LocatedError
from envtrack.frontend.steps import Step
from envtrack.llb import scripts
from envtrack.llb.context import PIP_ENV, PIP_MOUNTS, Context, apt_mounts, fetch_step
from envtrack.llb.options import CONDA_RATTLER
from envtrack.llb.toolchains import FETCHED, UNAME, arch_name, unpack
from envtrack.state import Mkdir, Mkfile

ROOT = scripts.CONDA_ROOT
ENV_NAME = "envd"
ENV_PREFIX = scripts.CONDA_ENV
TOOL = "/opt/envtrack/conda-tool"              # the venv the rattler command runs in
COMMAND = Path(__file__).with_name("conda_command.py")

# envd's Miniconda (condaVersionDefault, get_conda.sh) with its checksums.
MINICONDA_VERSION = "py311_25.9.1-1"
MINICONDA_URL = "https://repo.anaconda.com/miniconda/Miniconda3-{version}-Linux-{machine}.sh"
MINICONDA_SHA256 = {
    "amd64": "sha256:238abad23f8d4d8ba89dd05df0b0079e278909a36e06955f12bbef4aa94e6131",
    "arm64": "sha256:4e0723b9d76aa491cf22511dac36f4fdec373e41d2a243ff875e19b8df39bf94",
}
# envd copies micromamba 2.3.3 out of its image; the same build as a release binary (envd pins no checksum).
MICROMAMBA_VERSION = "2.3.3-0"
MICROMAMBA_URL = "https://github.com/mamba-org/micromamba-releases/releases/download/{version}/micromamba-linux-{arch}"
MICROMAMBA_ARCH = {"amd64": "64", "arm64": "aarch64"}
CHANNEL_ALIAS = "https://conda.anaconda.org/"  # where conda and micromamba find `conda-forge` and other names

ENVD_CONDARC = "default_channels:\n  - https://conda.anaconda.org/conda-forge/\n\nchannels:\n  - conda-forge\n"
ENVD_MAMBARC = "channels:\n    - conda-forge\n"
CONDA_ACTIVATE_FISH = "#!/usr/bin/fish\nconda activate $argv\n"
MAMBA_ACTIVATE = f'#!/bin/sh\neval "$({ROOT}/bin/micromamba shell hook --shell=bash)" || return $?\nmicromamba activate "$@"\n'
MAMBA_ACTIVATE_FISH = f"#!/usr/bin/fish\n{ROOT}/bin/micromamba shell hook --shell=fish | source\nmicromamba activate $argv\n"


def lower_conda_install(ctx: Context, step: Step, index: int) -> None:
    if ctx.conda_tool == CONDA_RATTLER:
        install_rattler_command(ctx, step)
    elif step.args["use_mamba"]:
        install_micromamba(ctx, step)
    else:
        install_miniconda(ctx, step)
    ctx.state = ctx.state.file(Mkdir(f"{ENV_PREFIX}/conda-meta"), Mkfile(f"{ENV_PREFIX}/conda-meta/history", b""),
                               name=f"{step.label}: environment {ENV_NAME}", position=step.position)
    ctx.state = ctx.state.add_env("PATH", f"{ENV_PREFIX}/bin:{ROOT}/bin:{ctx.state.get_env('PATH')}")
    ctx.runtime_env.update({"CONDA_PREFIX": ENV_PREFIX, "CONDA_DEFAULT_ENV": ENV_NAME})
    ctx.has_conda = True
    ctx.use_mamba = bool(step.args["use_mamba"])


def channel_alias(ctx: Context, step: Step) -> str:
    """The mirror of conda's channel alias as an rc line, "" when it is not mirrored."""
    url = ctx.installer_url(step, CHANNEL_ALIAS)
    return "" if url == CHANNEL_ALIAS else f"channel_alias: {url}\n"


def install_miniconda(ctx: Context, step: Step) -> None:
    """envd's get_conda.sh and install_conda.sh: the installer, checked, run in batch mode."""
    machine = arch_name(ctx, step, UNAME)
    url = MINICONDA_URL.format(version=MINICONDA_VERSION, machine=machine)
    source = ctx.download(step, url, checksum=MINICONDA_SHA256[ctx.arch], filename="miniconda.sh")
    unpack(ctx, step, source, scripts.install_miniconda(f"{FETCHED}/miniconda.sh", ROOT))
    condarc = ENVD_CONDARC.replace(CHANNEL_ALIAS, ctx.installer_url(step, CHANNEL_ALIAS)) + channel_alias(ctx, step)
    ctx.state = ctx.state.file(
        Mkfile(f"{ROOT}/bin/activate.fish", CONDA_ACTIVATE_FISH.encode(), mode=0o755),
        Mkfile(f"{ROOT}/.condarc", condarc.encode()),
        name=f"{step.label}: .condarc", position=step.position,
    )


def micromamba_url(ctx: Context, step: Step) -> str:
    return MICROMAMBA_URL.format(version=MICROMAMBA_VERSION, arch=arch_name(ctx, step, MICROMAMBA_ARCH))


def install_micromamba(ctx: Context, step: Step) -> None:
    """envd's installMicroMamba: the binary as /opt/conda/bin/micromamba, /usr/bin/conda through
    update-alternatives, its rc and activate files, `micromamba shell init` for bash."""
    source = ctx.download(step, micromamba_url(ctx, step), filename="micromamba")
    for name in ("MAMBA_ROOT_PREFIX", "MAMBA_TARGET_PREFIX"):
        ctx.state = ctx.state.add_env(name, ROOT)
        ctx.runtime_env[name] = ROOT
    ctx.state = ctx.state.file(
        Mkdir(f"{ROOT}/bin"),
        Mkfile(f"{ROOT}/.mambarc", (ENVD_MAMBARC + channel_alias(ctx, step)).encode()),
        Mkfile(f"{ROOT}/bin/activate", MAMBA_ACTIVATE.encode(), mode=0o755),
        Mkfile(f"{ROOT}/bin/activate.fish", MAMBA_ACTIVATE_FISH.encode(), mode=0o755),
        name=f"{step.label}: .mambarc", position=step.position,
    )
    unpack(ctx, step, source, scripts.install_micromamba(f"{FETCHED}/micromamba", ROOT))


def install_rattler_command(ctx: Context, step: Step) -> None:
    """ENVTRACK_CONDA=rattler: envtrack's command as conda, mamba and micromamba."""
    ctx.state = fetch_step(ctx, scripts.install_conda_tool(TOOL, ca=ctx.ca is not None), step=step,
                           mounts=apt_mounts(ctx) + PIP_MOUNTS, env=PIP_ENV)
    command = f"#!{TOOL}/bin/python\n".encode() + COMMAND.read_bytes()
    alias = f'#!/bin/sh\nexec {ROOT}/bin/conda "$@"\n'.encode()
    ctx.state = ctx.state.file(
        Mkdir(f"{ROOT}/bin"), Mkfile(f"{ROOT}/bin/conda", command, mode=0o755),
        Mkfile(f"{ROOT}/bin/mamba", alias, mode=0o755), Mkfile(f"{ROOT}/bin/micromamba", alias, mode=0o755),
        Mkfile(f"{ROOT}/.condarc", ("channels:\n  - conda-forge\n" + channel_alias(ctx, step)).encode()),
        name=f"{step.label}: conda command", position=step.position,
    )
    if step.args["use_mamba"]:
        for name in ("MAMBA_ROOT_PREFIX", "MAMBA_TARGET_PREFIX"):   # as envd sets them
            ctx.runtime_env[name] = ROOT


def lower_conda_channel(ctx: Context, step: Step, index: int) -> None:
    """envd writes the text as the environment's .condarc, after install.conda."""
    if not ctx.has_conda:
        raise LocatedError(step.position, "config.conda_channel: cannot configure conda channels "
                                          "before install.conda()")
    text = step.args["channel"]
    ctx.state = ctx.state.file(Mkfile(f"{ENV_PREFIX}/.condarc", text.encode()), name=step.label,
                               position=step.position)
