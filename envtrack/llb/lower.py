"""Lower a Plan into a State chain: one vertex per user build step, in the user's order.

Pure: host files arrive already read (`HostInputs`), so the same plan, options and
files always give the same graph. Steps whose registry stage is not `build`
(envtrack.builtins: runtime.*, config.entrypoint, ...) add no vertex and feed the
ImageConfig, or the container `up` creates, instead.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from typing import Callable
from urllib.parse import urlsplit

from envtrack.builtins import BUILD, BUILTINS, stage_of
from envtrack.errors import LocatedError
from envtrack.hostca import CA_ENV_NAMES
from envtrack.frontend.steps import Plan, Step
from envtrack.llb import conda, dev, envd, scripts
from envtrack.llb.context import (APT_LISTS_ID, BAKED_CA, CONDA_MOUNTS, PYTHON_INSTALL_ENV, Context, Lowered,
                                    apt_mounts, fetch_step, inputs_mount, python_install_mounts)
from envtrack.llb.host import HostFile, HostInputs
from envtrack.llb.toolchains import fail_line
from envtrack.llb.image_config import WORKDIR, ImageConfig
from envtrack.llb.options import CONDA_INSTALLERS, DEFAULT_ARCH
from envtrack.mirrors import MirrorTable
from envtrack.state import Copy, Mkdir, Mkfile, Mount, ProxyEnv, Rm, State

# Python that Debian/Ubuntu releases ship, by image tag: sync writes install.python with the one a base meets.
DISTRO_PYTHON = {
    "buster": "3.7", "10": "3.7", "bullseye": "3.9", "11": "3.9", "bookworm": "3.11", "12": "3.11",
    "trixie": "3.13", "13": "3.13", "focal": "3.8", "20.04": "3.8", "jammy": "3.10", "22.04": "3.10",
    "noble": "3.12", "24.04": "3.12",
}
PYTHON_DEFAULT = BUILTINS["install.python"].params[0].default   # envd's 3.11
NO_MIRRORS = MirrorTable()
BUILTIN_SHELLS = {"base", "sh", "bash"}  # present in every Debian-based image: nothing to install


def lower(plan: Plan, host: HostInputs, *, ca_bundle: bytes | None, proxy_env: dict[str, str],
          bake_ca: bool = False, owner: tuple[int, int] = (0, 0), mirrors: MirrorTable = NO_MIRRORS,
          arch: str = DEFAULT_ARCH, conda_tool: str = CONDA_INSTALLERS, pins: dict[str, str] | None = None) -> Lowered:
    ca_bundle = explicit_ca(plan, host) or ca_bundle
    ca = State.scratch().file(Mkfile("/ca.pem", ca_bundle, mode=0o444), name="host CA bundle") if ca_bundle else None
    ctx = Context(plan=plan, host=host, ca=ca, proxy=ProxyEnv.from_mapping(proxy_env), owner=explicit_owner(plan, owner),
                  mirrors=mirrors, arch=arch, pins=dict(pins or {}), conda_tool=conda_tool)
    image = envd.base_image(plan)
    for index, step in enumerate(plan.steps):
        lowering = LOWERINGS.get(step.kind)
        if lowering is None:
            raise LocatedError(step.position, f"{step.kind}: envtrack cannot build this step")
        if step.kind != "base" and stage_of(step.kind) == BUILD and ctx.state is None:
            start(ctx, image, None)
        before = ctx.state
        lowering(ctx, step, index)
        if ctx.state is not before and ctx.state.output is not (before.output if before else None):
            ctx.outputs.append((ctx.state.output, step))
    if ctx.state is None:
        start(ctx, image, None)
    dev.finish(ctx)
    if bake_ca and ca is not None:
        ctx.state = fetch_step(ctx, scripts.bake_ca(BAKED_CA), name="bake host CA bundle", position=None)
    return Lowered(ctx.state, image_config(ctx, baked=bake_ca and ca is not None), tuple(ctx.outputs),
                   tuple(ctx.downloads))


def explicit_owner(plan: Plan, owner: tuple[int, int]) -> tuple[int, int]:
    """The dev user's uid and gid: config.owner's, else the host user's OWNER (envd's order)."""
    step = next((s for s in plan.steps if s.kind == "config.owner"), None)
    return (int(step.args["uid"]), int(step.args["gid"])) if step else owner


def explicit_ca(plan: Plan, host: HostInputs) -> bytes | None:
    for index, step in enumerate(plan.steps):
        if step.kind == "config.ca_certificates":
            return host[index][0].data
    return None


# --- one function per builtin ---------------------------------------------------------

def start(ctx: Context, image: str, step: Step | None) -> None:
    try:
        state = ctx.image(image, name=step.label if step else f"base {image}",
                            position=step.position if step else None)
    except ValueError as error:
        if step is None:
            raise
        raise LocatedError(step.position, f"base: {error}") from None
    ctx.state = state.add_env("DEBIAN_FRONTEND", "noninteractive")
    ctx.base_image = image


def lower_base(ctx: Context, step: Step, index: int) -> None:
    if ctx.state is not None:
        raise LocatedError(step.position, "base: must be the first build step, and called once")
    start(ctx, envd.base_image(ctx.plan), step)
    if step.args["dev"]:
        dev.lower_dev_base(ctx, step)


def lower_python(ctx: Context, step: Step, index: int) -> None:
    """Python VERSION on any base (scripts.install_python says which interpreter), a venv of it
    for the installs after it. envd's "3" and "" are its default, 3.11."""
    version = str(step.args["version"]).strip()
    if version in ("", "3"):
        version = PYTHON_DEFAULT
    if not re.fullmatch(r"3(\.\d+){1,2}", version):
        raise LocatedError(step.position, f"install.python: version {version!r} is not a Python 3 version "
                                          "like '3.11'")
    url = ctx.installer_url(step, conda.micromamba_url(ctx, step), fallback=True)
    failed = fail_line(step, f"could not fetch micromamba from {url} for Python {version}",
                       ctx.mirrors.setting_hint(url))
    alias = ctx.installer_url(step, conda.CHANNEL_ALIAS, fallback=True)
    script = scripts.install_python(version, micromamba_url=url, channel_alias=alias, failed=failed,
                                    ca=ctx.ca is not None)
    ctx.state = fetch_step(ctx, script, step=step, mounts=apt_mounts(ctx))
    ctx.state = ctx.state.add_env("VIRTUAL_ENV", scripts.VENV).add_env(
        "PATH", f"{scripts.VENV}/bin:{ctx.state.get_env('PATH')}")
    ctx.has_python = True


def lower_apt(ctx: Context, step: Step, index: int) -> None:
    names = step.args["name"]
    if not names:
        raise LocatedError(step.position, "install.apt_packages: no packages named")
    ctx.state = fetch_step(ctx, scripts.apt_install(names, ca=ctx.ca is not None), step=step, mounts=apt_mounts(ctx))


def lower_pip(ctx: Context, step: Step, index: int) -> None:
    """Into install.python()'s venv, else into the image's own Python (as envd with
    python:3.11-slim). A requirements file naming project directories (`-e .`) is installed
    in the project's files, mounted where `up` mounts the project, as envd mounts the build
    context: an editable install keeps working against the live project."""
    files = ctx.host.get(index, ())
    requirements = next((f.name for f in files if f.role == "requirements"), None)
    wheels = [f.name for f in files if f.role == "wheel"]
    if not (step.args["name"] or requirements or wheels):
        raise LocatedError(step.position, "install.python_packages: nothing to install")
    project = project_mount(step, files)
    mounts = python_install_mounts(ctx) + inputs_mount(tuple(f for f in files if f.role != "project")) + project
    if not ctx.has_python:
        mounts += apt_mounts(ctx)   # a distribution's Python may need its pip package
    script = scripts.pip_install(step.args["name"], step.args["requirements"] if project else requirements, wheels,
                                 python=scripts.VENV_PYTHON if ctx.has_python else None,
                                 project=WORKDIR if project else None, ca=ctx.ca is not None)
    ctx.state = fetch_step(ctx, script, step=step, mounts=mounts, env=PYTHON_INSTALL_ENV)


def project_mount(step: Step, files: tuple[HostFile, ...]) -> tuple[Mount, ...]:
    """The project files a requirements file installs from, with that file at its place among
    them, as a writable scratch copy at WORKDIR (a build backend writes its egg-info there)."""
    tree = [f for f in files if f.role == "project"]
    if not tree:
        return ()
    actions = [Mkdir(f"/{f.name}", mode=f.mode) if f.data is None else Mkfile(f"/{f.name}", f.data, mode=f.mode)
               for f in tree if f.name != "."]
    requirements = next((f for f in files if f.role == "requirements"), None)
    if requirements is not None:   # else only the `name` list installs from the project
        place = posixpath.normpath(step.args["requirements"])
        if posixpath.dirname(place):
            actions.append(Mkdir(f"/{posixpath.dirname(place)}"))
        actions.append(Mkfile(f"/{place}", requirements.data, mode=0o644))
    state = State.scratch().file(*actions, name="project files")
    return (Mount.bind(WORKDIR, state.output, readonly=False),)


def lower_conda(ctx: Context, step: Step, index: int) -> None:
    files = ctx.host.get(index, ())
    env_file = next((f.name for f in files if f.role == "env_file"), None)
    script = scripts.conda_install(step.args["name"], step.args["channel"], env_file, ctx.base_image,
                                   env=conda.ENV_NAME if ctx.has_conda else None)
    mounts = CONDA_MOUNTS + inputs_mount(files)
    ctx.state = fetch_step(ctx, script, step=step, mounts=mounts, env={"CONDA_PKGS_DIRS": scripts.CONDA_PKGS})


def lower_run(ctx: Context, step: Step, index: int) -> None:
    if step.args.get("mount_host"):
        error = LocatedError(step.position, "run: mount_host=True is not supported by envtrack builds")
        error.hint = "copy the files in with io.copy(...) first"
        raise error
    commands = step.args["commands"]
    if not commands:
        raise LocatedError(step.position, "run: no commands")
    ctx.state = fetch_step(ctx, scripts.run_commands(commands), step=step)


def lower_shell(ctx: Context, step: Step, index: int) -> None:
    name = step.args["name"]
    ctx.labels["envtrack.shell"] = name
    if name not in BUILTIN_SHELLS:
        ctx.state = fetch_step(ctx, scripts.apt_install([name], ca=ctx.ca is not None), step=step,
                               mounts=apt_mounts(ctx))


def lower_apt_source(ctx: Context, step: Step, index: int) -> None:
    source = step.args["source"]
    if not source.strip():
        raise LocatedError(step.position, "config.apt_source: empty source")
    text = source if source.endswith("\n") else source + "\n"
    # Lists fetched from other sources live in their own cache, so projects do not refetch
    # each other's lists every time they alternate.
    ctx.apt_lists_id = f"{APT_LISTS_ID}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    ctx.state = ctx.state.file(
        Rm("/etc/apt/sources.list.d/debian.sources"),
        Mkfile("/etc/apt/sources.list", text.encode()),
        name=step.label, position=step.position,
    )


def lower_pip_index(ctx: Context, step: Step, index: int) -> None:
    url, extra, trust = step.args["url"], step.args["extra_url"], step.args["trust"]
    state = ctx.state.add_env("PIP_INDEX_URL", url)
    if extra:
        state = state.add_env("PIP_EXTRA_INDEX_URL", extra)
    if trust:
        hosts = [urlsplit(u).hostname for u in (url, extra) if u]
        state = state.add_env("PIP_TRUSTED_HOST", " ".join(h for h in hosts if h))
    ctx.state = state


def lower_copy(ctx: Context, step: Step, index: int) -> None:
    target = step.args["envd_path"]
    if not posixpath.isabs(target):
        # A relative path would land in /workspace, which the project directory hides at runtime.
        raise LocatedError(step.position, f"io.copy: envd_path {target!r} must be an absolute path")
    target = posixpath.normpath(target)
    if step.args.get("image"):  # envd: copy out of another image instead of the host
        source = ctx.image(step.args["image"], name=f"copy source {step.args['image']}", position=step.position)
        ctx.state = ctx.state.file(Copy(source.output, step.args["host_path"], target), name=step.label,
                                   position=step.position)
        return
    files = ctx.host[index]
    root, *entries = files
    if root.data is not None:  # one file: to TARGET, or into it when it ends with "/"
        if step.args["envd_path"].endswith("/"):
            target = posixpath.join(target, posixpath.basename(step.args["host_path"].rstrip("/")))
        actions = [Mkdir(posixpath.dirname(target)), Mkfile(target, root.data, mode=root.mode)]
    else:                      # a directory: its contents become TARGET's
        actions = [Mkdir(target, mode=root.mode)]
        for f in entries:
            path = posixpath.join(target, f.name)
            actions.append(Mkfile(path, f.data, mode=f.mode) if f.data is not None
                           else Mkdir(path, mode=f.mode))
    ctx.state = ctx.state.file(*actions, name=step.label, position=step.position)


def lower_environ(ctx: Context, step: Step, index: int) -> None:
    ctx.runtime_env.update(step.args["env"])
    ctx.extra_path += step.args["extra_path"]


def lower_expose(ctx: Context, step: Step, index: int) -> None:
    port = step.args["envd_port"]
    if not 0 < port < 65536:
        raise LocatedError(step.position, f"runtime.expose: port {port} is out of range")
    ctx.ports.append(f"{port}/tcp")
    if step.args["host_port"] or step.args["service"]:
        published = json.loads(ctx.labels.get("envtrack.ports", "[]"))
        published.append({"port": port, "host_port": step.args["host_port"], "service": step.args["service"]})
        ctx.labels["envtrack.ports"] = json.dumps(published, sort_keys=True)


def lower_command(ctx: Context, step: Step, index: int) -> None:
    commands = step.args["commands"]
    if not commands:
        return
    ctx.labels["envtrack.commands"] = json.dumps(commands, sort_keys=True)
    script = " & ".join(commands.values()) + (" & wait" if len(commands) > 1 else "")
    ctx.cmd = ("/bin/sh", "-c", script)


def lower_ca(ctx: Context, step: Step, index: int) -> None:
    """Read before lowering (explicit_ca); nothing to do in order."""


LOWERINGS: dict[str, Callable[[Context, Step, int], None]] = {
    **envd.LOWERINGS,
    "base": lower_base,
    "install.python": lower_python,
    "install.apt_packages": lower_apt,
    "install.python_packages": lower_pip,
    "install.conda_packages": lower_conda,
    "run": lower_run,
    "shell": lower_shell,
    "config.apt_source": lower_apt_source,
    "config.pip_index": lower_pip_index,
    "config.ca_certificates": lower_ca,
    "io.copy": lower_copy,
    "runtime.environ": lower_environ,
    "runtime.expose": lower_expose,
    "runtime.command": lower_command,
}


# --- helpers -------------------------------------------------------------------------

def distro_python(image: str) -> str | None:
    name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
    tag = re.sub(r"-(slim|minimal).*$", "", tag)
    if tag in DISTRO_PYTHON and (name.endswith(("debian", "ubuntu")) or not tag[0].isdigit()):
        return DISTRO_PYTHON[tag]
    return None


def image_config(ctx: Context, *, baked: bool) -> ImageConfig:
    env = dict(ctx.state.env)
    env.pop("DEBIAN_FRONTEND", None)   # a build-time setting; interactive shells want prompts
    if ctx.extra_path:
        env["PATH"] = ":".join([env.get("PATH", ""), *ctx.extra_path]).strip(":")
    if baked:
        env.update({name: BAKED_CA for name in CA_ENV_NAMES})
    env.update(ctx.runtime_env)
    return ImageConfig(
        env=tuple(env.items()),
        cmd=ctx.cmd,
        entrypoint=ctx.entrypoint,
        exposed_ports=tuple(dict.fromkeys(ctx.ports)),
        working_dir=WORKDIR,
        labels=tuple(sorted(ctx.labels.items())),
    )
