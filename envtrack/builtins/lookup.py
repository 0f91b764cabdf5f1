"""Indexes over the builtins, derived once: by Starlark name, namespace and package manager."""

from __future__ import annotations

from envtrack.builtins.envd_v1 import BUILTINS, CONSTANTS
from envtrack.builtins.model import BUILD, Builtin

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
