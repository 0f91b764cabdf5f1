"""Binding one call's arguments to a builtin of the registry (envtrack/builtins).

`bind_arguments` turns one call's positional and keyword arguments into a Step's `args` (envd's parameter names, defaults filled in, types
checked) or explains in one sentence what is wrong with them.
"""

from __future__ import annotations

import copy
from typing import Any

from envtrack.builtins import (  # noqa: F401 - the registry, re-exported for the frontend
    ARGV_LIST, BOOL, BUILTINS, BY_FLAT_NAME, INT, NAMESPACES, STR, STR_DICT, STR_LIST, TOP_LEVEL, V0_KEYWORDS,
    V0_RENAMES, Builtin, Param,
)
from envtrack.frontend.values import Unconvertible


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


def _jupyter_port(name: str, args: dict[str, Any]) -> None:
    if not 0 <= args["port"] <= 65535:
        raise ArgumentError(f"{name}: port must be between 0 and 65535 (0 picks a free port), got {args['port']}")


def _owner_range(name: str, args: dict[str, Any]) -> None:
    if not (0 <= args["uid"] <= 65535 and 0 <= args["gid"] <= 65535):
        raise ArgumentError(f"{name}: uid and gid must be between 0 and 65535")


def _digest_form(name: str, args: dict[str, Any]) -> None:
    checksum = args["checksum"]
    algorithm, _, hexdigits = checksum.partition(":")
    if checksum and not (algorithm in ("sha256", "sha384", "sha512") and hexdigits
                         and all(c in "0123456789abcdef" for c in hexdigits)):
        raise ArgumentError(f"{name}: checksum must look like sha256:<hex digits>, got {checksum!r}")


def _not_negative(param: str):
    def check(name: str, args: dict[str, Any]) -> None:
        if args[param] < 0:
            raise ArgumentError(f"{name}: {param} must not be negative, got {args[param]}")
    return check


_VALIDATORS = {
    "runtime.expose": (_ports_in_range, _listen_addr_is_ip),
    "install.conda_packages": (_env_file_alone,),
    "config.jupyter": (_jupyter_port,),
    "config.owner": (_owner_range,),
    "config.gpu": (_not_negative("count"),),
    "config.shm_size": (_not_negative("size"),),
    "io.http": (_digest_form,),
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
    elif want == ARGV_LIST:
        ok = isinstance(value, (list, tuple)) and all(
            isinstance(argv, (list, tuple)) and argv and all(isinstance(v, str) for v in argv) for argv in value)
        value = [list(argv) for argv in value] if ok else value
    elif want == STR_DICT:
        ok = isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        value = dict(value) if ok else value
    else:  # pragma: no cover - a typo in BUILTINS
        raise AssertionError(want)
    if not ok:
        raise ArgumentError(f"{name}: for parameter {param.name!r}: got {_type_name(value)}, want {want}")
    return value


def _type_name(value: Any) -> str:
    if isinstance(value, Unconvertible):   # the prelude already said what it is
        return value.kind
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
