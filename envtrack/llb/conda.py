"""install.conda and config.conda_channel.

envd downloads Miniconda (or copies micromamba out of its image) into /opt/conda and
creates the environment `envd` there. Neither download is reachable from a machine
without internet, so envtrack installs a conda-compatible command of its own
(conda_command.py, on py-rattler from the Python package index) at the same paths:
/opt/conda/bin/conda (mamba, micromamba), the environment /opt/conda/envs/envd, envd's
.condarc. Its installs write conda-meta/ as conda does, which the agent reads.
"""

from __future__ import annotations

from pathlib import Path

from envtrack.errors import LocatedError
from envtrack.frontend.steps import Step
from envtrack.llb import scripts
from envtrack.llb.context import PIP_ENV, PIP_MOUNTS, Context, apt_mounts, fetch_step
from envtrack.state import Mkdir, Mkfile

ROOT = "/opt/conda"
ENV_NAME = "envd"
ENV_PREFIX = f"{ROOT}/envs/{ENV_NAME}"
TOOL = "/opt/envtrack/conda-tool"              # the venv the command runs in
COMMAND = Path(__file__).with_name("conda_command.py")
# envd's own .condarc for conda (conda-forge); config.conda_channel writes the environment's.
ENVD_CONDARC = b"channels:\n  - conda-forge\n"


def lower_conda_install(ctx: Context, step: Step, index: int) -> None:
    ctx.state = fetch_step(ctx, scripts.install_conda_tool(TOOL, ca=ctx.ca is not None), step=step,
                           mounts=apt_mounts(ctx) + PIP_MOUNTS, env=PIP_ENV)
    command = f"#!{TOOL}/bin/python\n".encode() + COMMAND.read_bytes()
    alias = f'#!/bin/sh\nexec {ROOT}/bin/conda "$@"\n'.encode()
    ctx.state = ctx.state.file(
        Mkdir(f"{ROOT}/bin"), Mkfile(f"{ROOT}/bin/conda", command, mode=0o755),
        Mkfile(f"{ROOT}/bin/mamba", alias, mode=0o755), Mkfile(f"{ROOT}/bin/micromamba", alias, mode=0o755),
        Mkfile(f"{ROOT}/.condarc", ENVD_CONDARC), Mkdir(f"{ENV_PREFIX}/conda-meta"),
        name=f"{step.label}: conda command", position=step.position,
    )
    path = f"{ENV_PREFIX}/bin:{ROOT}/bin:{ctx.state.get_env('PATH')}"
    ctx.state = ctx.state.add_env("PATH", path)
    env = {"CONDA_PREFIX": ENV_PREFIX, "CONDA_DEFAULT_ENV": ENV_NAME}
    if step.args["use_mamba"]:
        env.update({"MAMBA_ROOT_PREFIX": ROOT, "MAMBA_TARGET_PREFIX": ROOT})   # as envd sets them
    ctx.runtime_env.update(env)
    ctx.has_conda = True


def lower_conda_channel(ctx: Context, step: Step, index: int) -> None:
    """envd writes the text as the environment's .condarc, after install.conda."""
    if not ctx.has_conda:
        raise LocatedError(step.position, "config.conda_channel: cannot configure conda channels "
                                          "before install.conda()")
    text = step.args["channel"]
    ctx.state = ctx.state.file(Mkfile(f"{ENV_PREFIX}/.condarc", text.encode()), name=step.label,
                               position=step.position)
