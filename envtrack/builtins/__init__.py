"""Every envd v1 builtin, described once: the one place each stage reads about them.

Pure data, standard library only. For each builtin, as envd defines it (its Starlark
stubs and the Go functions behind them):

* `params`: envd's parameter names, types and defaults, in envd's positional order;
* `stage`: when it takes effect: a build step (a vertex), the image config only, the
  container `up` creates, or evaluation itself (it returns a value);
* `label`: the argument that best says what a call does (progress lines, logs);
* `host_inputs`: the arguments that name host files the build reads, and their role;
* `packages`: for install calls whose `name` list `sync` edits and `up --locked` pins,
  the package manager whose spelling is used for both;
* `upstream`: an image the builtin needs that envtrack does not download itself, and how
  to provide it (the build fails with that one line when it is missing). The toolchains
  envd downloads are downloaded (envtrack/llb/toolchains.py).

The frontend binds arguments from it (frontend/builtins.py), lowering dispatches on its
names (llb/lower.py), llb/host.py reads `host_inputs`, the build stamp, labels,
sync and pins read the rest. Lowering functions live in llb/ keyed by `kind`; nothing
else lists builtins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Parameter types, named the way error messages show them.
STR = "string"
BOOL = "bool"
INT = "int"
STR_LIST = "list of strings"
STR_DICT = "dict of strings"
ARGV_LIST = "list of lists of strings"

# Stages.
BUILD = "build"          # changes the filesystem: one or more vertices
IMAGE = "image"          # only the image config (env, command, entrypoint, labels)
CONTAINER = "container"  # applied when `up` creates the container (mounts, devices, processes)
EVALUATION = "evaluation"  # runs while build.envd is evaluated and returns a value

_REQUIRED = object()


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: Any = _REQUIRED
    aliases: tuple[str, ...] = ()   # other keyword names envd has used for it
    optional: bool = False          # envd types it Optional[...]: None means the default

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


@dataclass(frozen=True)
class HostInput:
    param: str          # the argument naming host path(s)
    role: str           # what lowering calls the file: requirements | wheel | env_file | copy | ca
    tree: bool = False  # a file or a whole directory (io.copy)


@dataclass(frozen=True)
class Packages:
    manager: str        # apt | pip | conda: how sync writes entries and pins spell versions
    param: str = "name"  # the list sync may edit in place


@dataclass(frozen=True)
class Upstream:
    source: str         # what is needed, in words
    provide: str        # how to provide it instead


@dataclass(frozen=True)
class Builtin:
    kind: str                   # envd's dotted name, e.g. "install.apt_packages"
    params: tuple[Param, ...]
    stage: str = BUILD
    label: str | None = None
    host_inputs: tuple[HostInput, ...] = ()
    packages: Packages | None = None
    upstream: Upstream | None = None
    envd: bool = True           # False: an envtrack extension envd does not have

    @property
    def flat_name(self) -> str:
        """The Starlark global it is bound to: the dot becomes `_`, so lengths match."""
        return self.kind.replace(".", "_")


def _b(kind: str, *params: Param, **facts: Any) -> Builtin:
    return Builtin(kind, params, **facts)


_OPTIONAL_VERSION = Param("version", STR, "", optional=True)

BUILTINS: dict[str, Builtin] = {
    b.kind: b
    for b in (
        # --- universe -------------------------------------------------------------
        _b("base", Param("image", STR, "ubuntu:22.04"), Param("dev", BOOL, False), label="image"),
        _b("shell", Param("name", STR, "bash"), label="name"),
        _b("run", Param("commands", STR_LIST), Param("mount_host", BOOL, False), label="commands"),
        _b("git_config", Param("name", STR, "", optional=True), Param("email", STR, "", optional=True),
           Param("editor", STR, "", optional=True), label="name"),
        _b("include", Param("git", STR), stage=EVALUATION, label="git"),
        # --- install --------------------------------------------------------------
        _b("install.python", Param("version", STR, "3.11"), label="version"),
        _b("install.conda", Param("use_mamba", BOOL, False)),
        _b("install.pixi", Param("use_pixi_mirror", BOOL, False), Param("pypi_index", STR, "", optional=True)),
        _b("install.uv", Param("python_version", STR, "3.11"), label="python_version"),
        _b("install.r_lang"),
        _b("install.julia"),
        _b("install.rust", _OPTIONAL_VERSION, label="version"),
        _b("install.go", _OPTIONAL_VERSION, label="version"),
        _b("install.nodejs", _OPTIONAL_VERSION, label="version"),
        _b("install.codex", _OPTIONAL_VERSION, label="version"),
        _b("install.apt_packages", Param("name", STR_LIST, []), label="name", packages=Packages("apt")),
        _b("install.python_packages", Param("name", STR_LIST, []), Param("requirements", STR, ""),
           Param("local_wheels", STR_LIST, []), label="name", packages=Packages("pip"),
           host_inputs=(HostInput("requirements", "requirements"), HostInput("local_wheels", "wheel"))),
        _b("install.conda_packages", Param("name", STR_LIST, []), Param("channel", STR_LIST, []),
           Param("env_file", STR, ""), label="name", packages=Packages("conda"),
           host_inputs=(HostInput("env_file", "env_file"),)),
        _b("install.r_packages", Param("name", STR_LIST), label="name"),
        _b("install.julia_packages", Param("name", STR_LIST), label="name"),
        _b("install.vscode_extensions", Param("name", STR_LIST), label="name"),
        _b("install.cuda", Param("version", STR), Param("cudnn", STR, "8", optional=True), label="version"),
        # --- config ---------------------------------------------------------------
        _b("config.apt_source", Param("source", STR, "", optional=True), label="source"),
        _b("config.jupyter", Param("token", STR, ""), Param("port", INT, 0), label="port"),
        _b("config.pip_index", Param("url", STR), Param("extra_url", STR, ""), Param("trust", BOOL, False),
           label="url"),
        _b("config.conda_channel", Param("channel", STR, ""), label="channel"),
        _b("config.entrypoint", Param("args", STR_LIST), stage=IMAGE, label="args"),
        _b("config.gpu", Param("count", INT, 0), stage=CONTAINER, label="count"),
        _b("config.shm_size", Param("size", INT), stage=CONTAINER, label="size"),
        _b("config.cran_mirror", Param("url", STR, ""), stage=IMAGE, label="url"),
        _b("config.julia_pkg_server", Param("url", STR, ""), stage=IMAGE, label="url"),
        _b("config.rstudio_server"),
        _b("config.repo", Param("url", STR), Param("description", STR, ""), stage=IMAGE, label="url"),
        _b("config.owner", Param("uid", INT), Param("gid", INT), stage=IMAGE, label="uid"),
        _b("config.ca_certificates", Param("path", STR), stage=IMAGE, label="path",
           host_inputs=(HostInput("path", "ca"),), envd=False),
        # --- io -------------------------------------------------------------------
        # envd v1 later renamed host_path/envd_path to source/target; both spellings are accepted.
        _b("io.copy", Param("host_path", STR, aliases=("source",)), Param("envd_path", STR, aliases=("target",)),
           Param("image", STR, "", optional=True), host_inputs=(HostInput("host_path", "copy", tree=True),)),
        _b("io.http", Param("url", STR), Param("checksum", STR, "", optional=True),
           Param("filename", STR, "", optional=True), label="url"),
        # --- runtime --------------------------------------------------------------
        _b("runtime.command", Param("commands", STR_DICT, {}), stage=IMAGE, label="commands"),
        _b("runtime.daemon", Param("commands", ARGV_LIST), stage=CONTAINER, label="commands"),
        _b("runtime.expose", Param("envd_port", INT), Param("host_port", INT, 0, optional=True),
           Param("service", STR, "", optional=True), Param("listen_addr", STR, "127.0.0.1", optional=True),
           stage=IMAGE, label="envd_port"),
        _b("runtime.environ", Param("env", STR_DICT, {}), Param("extra_path", STR_LIST, []), stage=IMAGE,
           label="env"),
        _b("runtime.mount", Param("host_path", STR), Param("envd_path", STR), label="host_path"),
        _b("runtime.init", Param("commands", STR_LIST, []), stage=CONTAINER, label="commands"),
        # --- data -----------------------------------------------------------------
        _b("data.envd", Param("name", STR, ""), stage=EVALUATION, label="name"),
    )
}

# Values envd predeclares besides functions (`data.path.huggingface`); dots become `_` too.
CONSTANTS: dict[str, str] = {
    "data.path.huggingface": "~/.cache/huggingface",
    "data.path.dgl": "~/.dgl",
}

# Where envd keeps the directories `data.envd(name)` names, on the host.
ENVD_DATA_DIR = "~/.envd/data"

# envd v0 spellings and their v1 replacements, to point users at the v1 name.
V0_RENAMES: dict[str, str] = {
    "install.system_packages": "install.apt_packages",
    "config.pip_index_url": "config.pip_index",
}
V0_KEYWORDS: dict[str, frozenset[str]] = {"base": frozenset({"os", "language"})}

BY_FLAT_NAME: dict[str, Builtin] = {b.flat_name: b for b in BUILTINS.values()}
TOP_LEVEL: frozenset[str] = frozenset(k for k in BUILTINS if "." not in k)


def _namespaces() -> dict[str, frozenset[str]]:
    found: dict[str, frozenset[str]] = {}
    for name in [*BUILTINS, *CONSTANTS]:
        if "." in name:
            namespace, member = name.split(".", 1)
            found[namespace] = found.get(namespace, frozenset()) | {member.split(".")[0]}
    return found


NAMESPACES: dict[str, frozenset[str]] = _namespaces()
# Sub-namespaces holding only constants, e.g. `data.path`.
CONSTANT_NAMESPACES: frozenset[str] = frozenset(c.rsplit(".", 1)[0] for c in CONSTANTS)

MANAGER_OF_KIND: dict[str, str] = {b.kind: b.packages.manager for b in BUILTINS.values() if b.packages}
KIND_OF_MANAGER: dict[str, str] = {manager: kind for kind, manager in MANAGER_OF_KIND.items()}


def builtin(kind: str) -> Builtin | None:
    return BUILTINS.get(kind)


def stage_of(kind: str) -> str:
    found = BUILTINS.get(kind)
    return found.stage if found else BUILD


def reads_host_files(kind: str) -> bool:
    found = BUILTINS.get(kind)
    return bool(found and found.host_inputs)
