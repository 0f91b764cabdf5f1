"""envd v1's builtins, each described once with envd's names, positional order and defaults
(its Starlark stubs and the Go functions behind them), and the values envd predeclares."""

from __future__ import annotations

from typing import Any

from envtrack.builtins.model import (ARGV_LIST, BOOL, CONTAINER, EVALUATION, IMAGE, INT, STR, STR_DICT, STR_LIST,
                                     Builtin, HostInput, Packages, Param)

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
