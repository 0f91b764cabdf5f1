"""What a builtin is: its parameters, when it takes effect, and the facts stages read.

Pure data, standard library only; the builtins themselves are in envd_v1.py.
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
class Builtin:
    kind: str                   # envd's dotted name, e.g. "install.apt_packages"
    params: tuple[Param, ...]
    stage: str = BUILD
    label: str | None = None
    host_inputs: tuple[HostInput, ...] = ()
    packages: Packages | None = None
    envd: bool = True           # False: an envtrack extension envd does not have

    @property
    def flat_name(self) -> str:
        """The Starlark global it is bound to: the dot becomes `_`, so lengths match."""
        return self.kind.replace(".", "_")
