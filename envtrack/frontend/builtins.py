"""The envd v1 builtins envtrack understands: their names, parameters and defaults.

Pure data plus `bind_arguments`, which turns one call's positional and keyword
arguments into a Step's `args` (envd's parameter names, defaults filled in, types
checked) or explains in one sentence what is wrong with them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

# Parameter types, named the way error messages show them.
STR = "string"
BOOL = "bool"
INT = "int"
STR_LIST = "list of strings"
STR_DICT = "dict of strings"

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
class Builtin:
    kind: str                   # envd's dotted name, e.g. "install.apt_packages"
    params: tuple[Param, ...]

    @property
    def flat_name(self) -> str:
        """The Starlark global it is bound to: the dot becomes `_`, so lengths match."""
        return self.kind.replace(".", "_")


def _b(kind: str, *params: Param) -> Builtin:
    return Builtin(kind, params)


BUILTINS: dict[str, Builtin] = {
    b.kind: b
    for b in (
        _b("base", Param("image", STR, "ubuntu:20.04"), Param("dev", BOOL, False)),
        _b("shell", Param("name", STR, "base")),
        _b("run", Param("commands", STR_LIST), Param("mount_host", BOOL, False)),
        _b("install.python", Param("version", STR, "3.11")),
        _b("install.apt_packages", Param("name", STR_LIST, [])),
        _b(
            "install.python_packages",
            Param("name", STR_LIST, []),
            Param("requirements", STR, ""),
            Param("local_wheels", STR_LIST, []),
        ),
        _b(
            "install.conda_packages",
            Param("name", STR_LIST, []),
            Param("channel", STR_LIST, []),
            Param("env_file", STR, ""),
        ),
        _b("runtime.environ", Param("env", STR_DICT, {}), Param("extra_path", STR_LIST, [])),
        _b(
            "runtime.expose",
            Param("envd_port", INT),
            Param("host_port", INT, 0, optional=True),
            Param("service", STR, "", optional=True),
            Param("listen_addr", STR, "127.0.0.1", optional=True),
        ),
        _b("runtime.command", Param("commands", STR_DICT, {})),
        # envd v1 later renamed these to source/target; both spellings are accepted.
        _b(
            "io.copy",
            Param("host_path", STR, aliases=("source",)),
            Param("envd_path", STR, aliases=("target",)),
        ),
        _b("config.pip_index", Param("url", STR), Param("extra_url", STR, ""), Param("trust", BOOL, False)),
        _b("config.apt_source", Param("source", STR, "", optional=True)),
        _b("config.ca_certificates", Param("path", STR)),
    )
}

# envd v1 builtins envtrack does not implement: named as such rather than "unknown".
UNSUPPORTED: frozenset[str] = frozenset({
    "git_config", "include",
    "install.conda", "install.cuda", "install.uv", "install.r_lang", "install.julia",
    "install.vscode_extensions", "install.r_packages", "install.julia_packages",
    "runtime.daemon", "runtime.mount", "runtime.init",
    "io.http",
    "config.jupyter", "config.conda_channel", "config.entrypoint", "config.gpu",
    "config.cran_mirror", "config.julia_pkg_server", "config.rstudio_server", "config.repo",
    "config.owner",
})

# envd v0 spellings and their v1 replacements, to point users at the v1 name.
V0_RENAMES: dict[str, str] = {
    "install.system_packages": "install.apt_packages",
    "config.pip_index_url": "config.pip_index",
}
V0_KEYWORDS: dict[str, frozenset[str]] = {"base": frozenset({"os", "language"})}

BY_FLAT_NAME: dict[str, Builtin] = {b.flat_name: b for b in BUILTINS.values()}
TOP_LEVEL: frozenset[str] = frozenset(k for k in BUILTINS if "." not in k)
NAMESPACES: dict[str, frozenset[str]] = {}
for _kind in BUILTINS:
    if "." in _kind:
        _ns, _member = _kind.split(".", 1)
        NAMESPACES[_ns] = NAMESPACES.get(_ns, frozenset()) | {_member}


class ArgumentError(Exception):
    """One call's arguments do not fit the builtin; the message is user-facing."""


def bind_arguments(builtin: Builtin, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Map a call's arguments onto the builtin's parameters, like Starlark's UnpackArgs."""
    name = builtin.kind
    params = builtin.params
    if len(args) > len(params):
        raise ArgumentError(f"{name}: got {len(args)} positional arguments, want at most {len(params)}")
    bound: dict[str, Any] = {p.name: value for p, value in zip(params, args)}
    by_keyword = {alias: p for p in params for alias in (p.name, *p.aliases)}
    for keyword, value in kwargs.items():
        param = by_keyword.get(keyword)
        if param is None and keyword in V0_KEYWORDS.get(name, ()):
            raise ArgumentError(
                f"{name}: {keyword}= is envd v0 syntax; envd v1 (which envtrack reads) takes "
                + ", ".join(f"{p.name}=" for p in params)
            )
        if param is None:
            raise ArgumentError(f"{name}: unexpected keyword argument {keyword!r}{_did_you_mean(keyword, by_keyword)}")
        if param.name in bound:
            raise ArgumentError(f"{name}: got multiple values for argument {param.name!r}")
        bound[param.name] = value
    result: dict[str, Any] = {}
    for param in params:
        if param.name not in bound or (param.optional and bound[param.name] is None):
            if param.required:
                raise ArgumentError(f"{name}: missing argument {param.name!r}")
            result[param.name] = copy.deepcopy(param.default)
            continue
        result[param.name] = _check(name, param, bound[param.name])
    for validate in _VALIDATORS.get(name, ()):
        validate(name, result)
    return result


# Checks envd makes on the values themselves once the types are right; done here so
# the error points at the call instead of surfacing later in the build.
def _ports_in_range(name: str, args: dict[str, Any]) -> None:
    if not 1 <= args["envd_port"] <= 65535:
        raise ArgumentError(f"{name}: envd_port must be between 1 and 65535, got {args['envd_port']}")
    if not 0 <= args["host_port"] <= 65535:
        raise ArgumentError(f"{name}: host_port must be between 0 and 65535 (0 picks a free port), got {args['host_port']}")


def _listen_addr_is_ip(name: str, args: dict[str, Any]) -> None:
    import ipaddress

    try:
        ipaddress.ip_address(args["listen_addr"])
    except ValueError:
        raise ArgumentError(f"{name}: listen_addr must be an IP address, got {args['listen_addr']!r}") from None


def _env_file_alone(name: str, args: dict[str, Any]) -> None:
    if args["env_file"] and (args["name"] or args["channel"]):
        raise ArgumentError(f"{name}: env_file and name/channel are mutually exclusive")


_VALIDATORS = {
    "runtime.expose": (_ports_in_range, _listen_addr_is_ip),
    "install.conda_packages": (_env_file_alone,),
}


def _did_you_mean(keyword: str, known: dict[str, Param]) -> str:
    import difflib

    close = difflib.get_close_matches(keyword, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check(name: str, param: Param, value: Any) -> Any:
    """Type-check one argument, returning a JSON-like copy (tuples become lists)."""
    want = param.type
    ok: bool
    if want == STR:
        ok = isinstance(value, str)
    elif want == BOOL:
        ok = isinstance(value, bool)
    elif want == INT:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif want == STR_LIST:
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        value = list(value) if ok else value
    elif want == STR_DICT:
        ok = isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        value = dict(value) if ok else value
    else:  # pragma: no cover - a typo in BUILTINS
        raise AssertionError(want)
    if not ok:
        raise ArgumentError(f"{name}: for parameter {param.name!r}: got {_type_name(value)}, want {want}")
    return value


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if value is None:
        return "None"
    if isinstance(value, (list, tuple)) and not all(isinstance(v, str) for v in value):
        kinds = sorted({_type_name(v) for v in value if not isinstance(v, str)})
        return f"{'list' if isinstance(value, list) else 'tuple'} containing {', '.join(kinds)}"
    if isinstance(value, dict):
        return "dict with non-string items" if value else "dict"
    return {str: "string", int: "int", float: "float", list: "list", tuple: "tuple"}.get(type(value), type(value).__name__)
