"""Lowerings of the envd builtins beyond the core installers, keyed by the registry's names.

Each function takes the lowering Context, the Step and its index, like those in
envtrack.llb.lower. What envd does for each (pkg/lang/ir/v1) is said where envtrack
follows it; where envtrack differs, the README's builtin table says so too. The
toolchains envd downloads are in envtrack.llb.toolchains.
"""

from __future__ import annotations

import posixpath
import re
from typing import Callable

from envtrack.builtins import BUILTINS
from envtrack.errors import LocatedError
from envtrack.frontend.steps import MAIN_STATE, Plan, Step
from envtrack.llb import conda, scripts, toolchains
from envtrack.llb.context import PYTHON_INSTALL_ENV, Context, fetch_step, python_install_mounts
from envtrack.state import Copy, Mkdir, Mkfile

ENVD_DEFAULT_IMAGE = BUILTINS["base"].params[0].default   # what envd's install.cuda rewrites
CUDA_REPO = "nvidia/cuda"
EXTRA_SOURCE_DIR = "/home/envd/extra_source"   # where envd's io.http puts downloads
ROOT_HOME = "/root"                            # envtrack environments run as root
JUPYTER_PORT = 8888                            # envd's port for Jupyter inside the container


# --- the base image ---------------------------------------------------------------

def base_image(plan: Plan) -> str:
    """The image the build starts from: base()'s, or envd's default (ubuntu:22.04) when base() is
    not called, replaced by an nvidia/cuda image when install.cuda is called (as envd does)."""
    base = next((s for s in plan.steps if s.kind == "base"), None)
    cuda = next((s for s in plan.steps if s.kind == "install.cuda"), None)
    if cuda is None:
        return base.args["image"] if base else ENVD_DEFAULT_IMAGE
    return cuda_image(base.args["image"] if base else ENVD_DEFAULT_IMAGE, cuda, dev=bool(base and base.args["dev"]))


def image_uses(plan: Plan) -> tuple[tuple[str, str], ...]:
    """Every image the build reads, with where build.envd names it, in order, each once: the base
    (install.cuda's, base()'s, or envd's default), image() states, io.copy(image=)."""
    chooser = next((s for s in plan.steps if s.kind == "install.cuda"), None) or \
        next((s for s in plan.steps if s.kind == "base"), None)
    main_used = not plan.states or MAIN_STATE in plan.states_behind(plan.image_state)
    uses = [(base_image(plan), str(chooser.position) if chooser else f"{plan.file} (no base(): envd's default)")]
    uses = uses if main_used else []
    uses += [(d.image, str(d.position)) for d in plan.states if d.origin == "image"]
    uses += [(s.args["image"], str(s.position)) for s in plan.steps if s.kind == "io.copy" and s.args.get("image")]
    seen: set[str] = set()
    return tuple(use for use in uses if not (use[0] in seen or seen.add(use[0])))


def cuda_image(image: str, step: Step, *, dev: bool) -> str:
    """envd: nvidia/cuda:<version>-cudnn<cudnn>-<runtime|devel>-<image without its colon>.

    envd applies this to any base image and gets names that cannot exist for anything but
    `ubuntu:<release>`; envtrack refuses those at the call instead.
    """
    if not re.fullmatch(r"ubuntu:\d+\.\d+", image):
        raise LocatedError(step.position, f"install.cuda: nvidia/cuda images exist for ubuntu:<release> bases only, "
                                          f"not {image}; use base(image=\"ubuntu:22.04\") or a CUDA image directly")
    version, cudnn = step.args["version"], step.args["cudnn"] or "8"
    if not re.fullmatch(r"\d+\.\d+(\.\d+)?", version):
        raise LocatedError(step.position, f"install.cuda: version {version!r} is not a CUDA version like '11.6.2'")
    flavour = "devel" if dev else "runtime"
    return f"{CUDA_REPO}:{version}-cudnn{cudnn}-{flavour}-{image.replace(':', '', 1)}"


def lower_cuda(ctx: Context, step: Step, index: int) -> None:
    """Chosen with the base image (base_image); nothing to do in order."""


# --- configuration files and image settings -------------------------------------------

def lower_git_config(ctx: Context, step: Step, index: int) -> None:
    """envd runs `git config --global` for its user; the same file, written directly (no git needed)."""
    sections = {"user": {"name": step.args["name"], "email": step.args["email"]},
                "core": {"editor": step.args["editor"]}}
    text = "".join(f"[{section}]\n" + "".join(f"\t{key} = {value}\n" for key, value in values.items() if value)
                   for section, values in sections.items() if any(values.values()))
    ctx.state = ctx.state.file(Mkfile(f"{ROOT_HOME}/.gitconfig", text.encode()), name=step.label,
                               position=step.position)


def lower_entrypoint(ctx: Context, step: Step, index: int) -> None:
    if not step.args["args"]:
        raise LocatedError(step.position, "config.entrypoint: no arguments")
    ctx.entrypoint = tuple(step.args["args"])


def lower_repo(ctx: Context, step: Step, index: int) -> None:
    ctx.labels["envtrack.repo.url"] = step.args["url"]
    if step.args["description"]:
        ctx.labels["envtrack.repo.description"] = step.args["description"]


def lower_owner(ctx: Context, step: Step, index: int) -> None:
    """envd builds its `envd` user with this uid:gid; envtrack environments run as root and
    record it, so `up` can give files written to the project directory this owner."""
    ctx.labels["envtrack.owner"] = f"{step.args['uid']}:{step.args['gid']}"


def lower_julia_pkg_server(ctx: Context, step: Step, index: int) -> None:
    if step.args["url"]:
        ctx.runtime_env["JULIA_PKG_SERVER"] = step.args["url"]   # Julia's own setting, as envd sets it


def lower_cran_mirror(ctx: Context, step: Step, index: int) -> None:
    """Read by install.r_packages; recorded so `envtrack plan`/image labels show it."""
    if step.args["url"]:
        ctx.labels["envtrack.cran_mirror"] = step.args["url"]


def lower_runtime_only(ctx: Context, step: Step, index: int) -> None:
    """Applied when `up` creates the container (envtrack.container.spec)."""


def lower_mount(ctx: Context, step: Step, index: int) -> None:
    """As envd: the mount point exists in the image; the mount itself happens at `up`."""
    ctx.state = ctx.state.file(Mkdir(container_path(step, "envd_path")), name=step.label, position=step.position)


def container_path(step: Step, param: str) -> str:
    """An absolute path inside the container; `~` is the environment's home (envd: its user's)."""
    path = step.args[param]
    if path == "~" or path.startswith("~/"):
        path = ROOT_HOME + path[1:]
    if not posixpath.isabs(path):
        raise LocatedError(step.position, f"{step.kind}: {param} {path!r} must be an absolute path")
    return posixpath.normpath(path)


# --- downloads -------------------------------------------------------------------------

def lower_http(ctx: Context, step: Step, index: int) -> None:
    """BuildKit fetches the URL itself (envd's llb.HTTP), through the mirror table, and checks
    the checksum; the file lands in envd's extra_source directory."""
    url, filename = step.args["url"], step.args["filename"]
    if not re.match(r"https?://", url):
        raise LocatedError(step.position, f"io.http: {url!r} is not an http(s) URL")
    name = filename or posixpath.basename(url.split("?", 1)[0].rstrip("/")) or "download"
    source = ctx.download(step, url, checksum=step.args["checksum"], filename=name)
    ctx.state = ctx.state.file(Copy(source.output, f"/{name}", f"{EXTRA_SOURCE_DIR}/{name}"), name=step.label,
                               position=step.position)


# --- Python tools ----------------------------------------------------------------------

def lower_jupyter(ctx: Context, step: Step, index: int) -> None:
    """envd adds `jupyter` to the pip installs and runs the notebook server as a service;
    the server starts at `up` (envtrack.container.spec). Without install.python() it goes
    into the image's own Python, as install.python_packages does."""
    script = scripts.pip_install(["jupyter"], None, [], python=scripts.VENV_PYTHON if ctx.has_python else None,
                                 ca=ctx.ca is not None)
    mounts = python_install_mounts(ctx) + (() if ctx.has_python else apt_mounts(ctx))
    ctx.state = fetch_step(ctx, script, step=step, mounts=mounts, env=PYTHON_INSTALL_ENV)
    ctx.ports.append(f"{JUPYTER_PORT}/tcp")


LOWERINGS: dict[str, Callable[[Context, Step, int], None]] = {
    "git_config": lower_git_config,
    "install.cuda": lower_cuda,
    "install.uv": toolchains.lower_uv,
    "install.go": toolchains.lower_go,
    "install.nodejs": toolchains.lower_nodejs,
    "install.rust": toolchains.lower_rust,
    "install.julia": toolchains.lower_julia,
    "install.pixi": toolchains.lower_pixi,
    "install.codex": toolchains.lower_codex,
    "install.conda": conda.lower_conda_install,
    "config.conda_channel": conda.lower_conda_channel,
    "config.jupyter": lower_jupyter,
    "config.entrypoint": lower_entrypoint,
    "config.repo": lower_repo,
    "config.owner": lower_owner,
    "config.cran_mirror": lower_cran_mirror,
    "config.julia_pkg_server": lower_julia_pkg_server,
    "config.gpu": lower_runtime_only,
    "config.shm_size": lower_runtime_only,
    "runtime.init": lower_runtime_only,
    "runtime.daemon": lower_runtime_only,
    "runtime.mount": lower_mount,
    "io.http": lower_http,
    "install.r_lang": toolchains.lower_r_lang,
    "install.r_packages": toolchains.lower_r_packages,
    "install.julia_packages": toolchains.lower_julia_packages,
    "install.vscode_extensions": toolchains.lower_vscode_extensions,
    "config.rstudio_server": toolchains.lower_rstudio_server,
}
