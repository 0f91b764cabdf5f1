"""LLB vertices before marshalling: what each operation does, not yet how it is encoded.

A vertex refers to its inputs as `Output`s (a vertex and which of its results), so a
graph of vertices is a plain immutable tree of Python objects; `envtrack.state.marshal`
turns it into digests and bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol, Union

from envtrack.errors import Position

NO_INDEX = -1  # BuildKit's "no input" / "no output"
UNSET_TIME = -1  # file actions: let BuildKit pick the time (0 would mean 1970)


class Network(Enum):
    SANDBOX = 0
    HOST = 1
    NONE = 2


class Security(Enum):
    SANDBOX = 0
    INSECURE = 1


class CacheSharing(Enum):
    SHARED = 0    # concurrent writers share one directory
    PRIVATE = 1   # a second writer gets its own directory
    LOCKED = 2    # a second writer waits (apt's lock files need this)


@dataclass(frozen=True, eq=False)
class Output:
    """One result of a vertex: the thing a State points at and a Mount or Copy reads."""

    vertex: "Vertex"
    index: int = 0


class HasOutput(Protocol):
    """Anything that points at a result (a State): what marshalling starts from."""

    output: Output | None


@dataclass(frozen=True)
class Platform:
    os: str = "linux"
    architecture: str = "amd64"
    variant: str = ""


@dataclass(frozen=True)
class ProxyEnv:
    http_proxy: str = ""
    https_proxy: str = ""
    ftp_proxy: str = ""
    no_proxy: str = ""
    all_proxy: str = ""

    @classmethod
    def from_mapping(cls, values: dict[str, str]) -> "ProxyEnv | None":
        """From `{"HTTPS_PROXY": ...}`-style settings (either case); None when all empty."""
        lowered = {k.lower(): v for k, v in values.items() if v}
        fields = {name: lowered.get(name, "") for name in cls.__dataclass_fields__}
        return cls(**fields) if any(fields.values()) else None


@dataclass(frozen=True)
class Mount:
    """An extra mount of an exec step.

    One kind: `cache_id` a persistent BuildKit cache directory, `tmpfs` an in-memory one,
    else a bind of `source`, another state's result (None: the empty filesystem), whose
    changes are discarded unless it is marked as the step's `output`. Like BuildKit's
    exec.go, a mount holds the Output it reads, not the State that made it.
    """

    dest: str
    source: Output | None = None
    selector: str = ""
    readonly: bool = False
    cache_id: str = ""
    sharing: CacheSharing = CacheSharing.SHARED
    tmpfs: bool = False
    tmpfs_size: int = 0
    output: bool = False           # this mount's result, not the root's, is the step's output
    # A writable bind committed as an extra output that nothing reads. BuildKit checksums the
    # files of every input mount that has no output before it looks the step up (exec.go,
    # getMountDeps: writable and discarded is not enough); one with an output is keyed by its
    # definition. The commit of a mount the step did not write to costs next to nothing.
    committed: bool = False

    def __post_init__(self) -> None:
        if self.cache_id and self.tmpfs:
            raise ValueError(f"mount {self.dest}: a cache mount cannot also be a tmpfs")
        if self.source is not None and not self.is_bind:
            raise ValueError(f"mount {self.dest}: a cache or tmpfs mount has no source")
        if not self.dest.startswith("/"):
            raise ValueError(f"mount {self.dest}: destination must be absolute")
        if self.output and (not self.is_bind or self.readonly):
            raise ValueError(f"mount {self.dest}: only a writable bind mount can be the output")
        if self.committed and (not self.is_bind or self.readonly or self.output):
            raise ValueError(f"mount {self.dest}: only a writable bind mount that is not the output can be committed")

    @property
    def is_bind(self) -> bool:
        return not self.cache_id and not self.tmpfs

    @classmethod
    def cache(cls, dest: str, cache_id: str, sharing: CacheSharing = CacheSharing.SHARED) -> "Mount":
        return cls(dest=dest, cache_id=cache_id, sharing=sharing, readonly=False)

    @classmethod
    def bind(cls, dest: str, source: Output | None, selector: str = "", readonly: bool = True) -> "Mount":
        return cls(dest=dest, source=source, selector=selector, readonly=readonly)


# --- file actions ---------------------------------------------------------------

@dataclass(frozen=True)
class Mkdir:
    path: str
    mode: int = 0o755
    make_parents: bool = True


@dataclass(frozen=True)
class Mkfile:
    path: str
    data: bytes
    mode: int = 0o644


@dataclass(frozen=True)
class Rm:
    path: str
    allow_not_found: bool = True
    allow_wildcard: bool = False


@dataclass(frozen=True)
class Copy:
    """Copy `src` from another state's result (None: the empty filesystem) onto `dest` of this one."""

    source: Output | None
    src: str
    dest: str
    mode: int = -1                 # -1 keeps the source's permission bits
    create_dest_path: bool = True
    dir_copy_contents: bool = True
    follow_symlink: bool = True
    allow_wildcard: bool = False


FileAction = Union[Mkdir, Mkfile, Rm, Copy]


# --- vertices -------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class SourceVertex:
    identifier: str                       # e.g. docker-image://docker.io/library/debian:bookworm
    attrs: tuple[tuple[str, str], ...] = ()
    platform: Platform | None = None
    name: str = ""
    position: Position | None = None

    @property
    def inputs(self) -> tuple[Output, ...]:
        return ()


@dataclass(frozen=True, eq=False)
class ExecVertex:
    root: Output | None                   # None: run on scratch
    args: tuple[str, ...]
    env: tuple[str, ...]                  # "K=V", in the order they were set
    cwd: str
    user: str
    mounts: tuple[Mount, ...] = ()
    network: Network = Network.SANDBOX
    security: Security = Security.SANDBOX
    proxy_env: ProxyEnv | None = None
    hostname: str = ""
    platform: Platform | None = None
    name: str = ""
    position: Position | None = None

    @property
    def inputs(self) -> tuple[Output, ...]:
        """Distinct inputs in first-use order: the root, then bound States."""
        seen: list[Output] = []
        candidates = [self.root] + [m.source for m in self.mounts if m.source is not None]
        for output in candidates:
            if output is not None and not any(same_output(output, o) for o in seen):
                seen.append(output)
        return tuple(seen)

    def ordered_mounts(self) -> tuple[Mount, ...]:
        """The extra mounts in the order BuildKit gets them (by destination: a parent before what
        is mounted below it)."""
        return tuple(sorted(self.mounts, key=lambda m: m.dest))

    def output_mounts(self) -> tuple[Mount | None, ...]:
        """The mounts that produce a result, in BuildKit's numbering of an exec's results (the
        order of its mounts that have an output; None: the root, when no mount is the result)."""
        extra = tuple(m for m in self.ordered_mounts() if m.output or m.committed)
        return extra if any(m.output for m in self.mounts) else (None, *extra)

    @property
    def result_index(self) -> int:
        """Which of the exec's results is the step's: the root's, or the mount marked `output`."""
        return next(i for i, m in enumerate(self.output_mounts()) if m is None or m.output)


@dataclass(frozen=True, eq=False)
class FileVertex:
    base: Output | None                   # None: act on scratch
    actions: tuple[FileAction, ...]
    platform: Platform | None = None
    name: str = ""
    position: Position | None = None

    @property
    def inputs(self) -> tuple[Output, ...]:
        seen: list[Output] = []
        candidates = [self.base] + [a.source for a in self.actions if isinstance(a, Copy)]
        for output in candidates:
            if output is not None and not any(same_output(output, o) for o in seen):
                seen.append(output)
        return tuple(seen)


@dataclass(frozen=True, eq=False)
class MergeVertex:
    """Layer `layers` in order (BuildKit MergeOp): later layers' files win."""

    layers: tuple[Output, ...]
    name: str = ""
    position: Position | None = None
    platform: None = None                 # BuildKit: merges are not platform specific

    @property
    def inputs(self) -> tuple[Output, ...]:
        seen: list[Output] = []
        for output in self.layers:
            if not any(same_output(output, o) for o in seen):
                seen.append(output)
        return tuple(seen)


@dataclass(frozen=True, eq=False)
class DiffVertex:
    """The changes from `lower` to `upper` (BuildKit DiffOp); None is scratch."""

    lower: Output | None
    upper: Output | None
    name: str = ""
    position: Position | None = None
    platform: None = None

    @property
    def inputs(self) -> tuple[Output, ...]:
        candidates = [o for o in (self.lower, self.upper) if o is not None]
        if len(candidates) == 2 and same_output(*candidates):
            return tuple(candidates[:1])
        return tuple(candidates)


Vertex = Union[SourceVertex, ExecVertex, FileVertex, MergeVertex, DiffVertex]


def same_output(a: Output | None, b: Output | None) -> bool:
    """Identity of results: the same vertex object and the same output index."""
    if a is None or b is None:
        return a is b
    return a.vertex is b.vertex and a.index == b.index


def input_index(inputs: tuple[Output, ...], output: Output | None) -> int:
    if output is None:
        return NO_INDEX
    for index, candidate in enumerate(inputs):
        if same_output(candidate, output):
            return index
    raise ValueError("output is not among the vertex's inputs")
