"""Turn a State's vertex graph into a deterministic BuildKit `pb.Definition`.

Vertices are emitted in dependency order (inputs first, depth-first in input order),
each as `Op` bytes serialised deterministically; a vertex's digest is sha256 of exactly
those bytes, and later vertices name their inputs by it. The last `def` entry is a bare
Op whose single input is the result. Names and source positions go in metadata and the
source map, which BuildKit does not hash, so renaming a step or moving it to another
line keeps its cache.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import PurePath
from typing import Mapping

from envtrack.pb import ops_pb2 as pb
from envtrack.state.vertex import (
    NO_INDEX,
    UNSET_TIME,
    Copy,
    DiffVertex,
    ExecVertex,
    FileVertex,
    HasOutput,
    MergeVertex,
    Mkdir,
    Mkfile,
    Mount,
    Platform,
    Rm,
    SourceVertex,
    Vertex,
    input_index,
)

CUSTOM_NAME = "llb.customname"
CAP_MERGE_OP = "mergeop"   # BuildKit's pb.CapMergeOp
CAP_DIFF_OP = "diffop"     # BuildKit's pb.CapDiffOp


@dataclass(frozen=True)
class Marshalled:
    """A marshalled graph: the Definition plus each vertex's digest, for callers to map back."""

    definition: pb.Definition
    digest: str                                   # the result vertex
    digests: tuple[tuple[Vertex, str], ...]       # each distinct vertex, in `def` order
    by_id: dict[int, str]                         # id(vertex) -> digest, for every vertex walked

    def digest_of(self, vertex: Vertex) -> str:
        return self.by_id[id(vertex)]


def marshal(state: HasOutput, sources: Mapping[str, str] | None = None) -> pb.Definition:
    return marshal_graph(state, sources).definition


def marshal_graph(state: HasOutput, sources: Mapping[str, str] | None = None) -> Marshalled:
    if state.output is None:
        raise ValueError("cannot marshal the empty (scratch) state: nothing to build")
    ops: list[bytes] = []
    digests: dict[int, str] = {}                  # id(vertex) -> digest
    order: list[tuple[Vertex, str]] = []
    metadata: dict[str, pb.OpMetadata] = {}
    for vertex in dependency_order(state.output.vertex):
        input_refs = [pb.Input(digest=digests[id(o.vertex)], index=o.index) for o in vertex.inputs]
        data = op_for(vertex, input_refs).SerializeToString(deterministic=True)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        digests[id(vertex)] = digest
        if digest not in metadata:                # identical vertices collapse into one
            ops.append(data)
            order.append((vertex, digest))
            metadata[digest] = pb.OpMetadata(description={CUSTOM_NAME: custom_name(vertex)},
                                             caps=required_caps(vertex))
    result = digests[id(state.output.vertex)]
    final = pb.Op(inputs=[pb.Input(digest=result, index=state.output.index)])
    ops.append(final.SerializeToString(deterministic=True))
    definition = pb.Definition(**{"def": ops}, metadata=metadata)  # `def` is a Python keyword
    source_map = build_source_map(order, sources or {})
    if source_map is not None:
        definition.Source.CopyFrom(source_map)
    return Marshalled(definition=definition, digest=result, digests=tuple(order), by_id=digests)


def dependency_order(root: Vertex) -> list[Vertex]:
    """Post-order depth-first walk, inputs in order; iterative, as chains can be thousands long."""
    order: list[Vertex] = []
    done: set[int] = set()
    stack: list[tuple[Vertex, int]] = [(root, 0)]
    while stack:
        vertex, next_input = stack.pop()
        if id(vertex) in done:
            continue
        inputs = vertex.inputs
        if next_input < len(inputs):
            stack.append((vertex, next_input + 1))
            stack.append((inputs[next_input].vertex, 0))
        else:
            done.add(id(vertex))
            order.append(vertex)
    return order


def required_caps(vertex: Vertex) -> dict[str, bool]:
    """The BuildKit capabilities a vertex needs, named in its metadata as llb does."""
    if isinstance(vertex, MergeVertex):
        return {CAP_MERGE_OP: True}
    if isinstance(vertex, DiffVertex):
        return {CAP_DIFF_OP: True}
    return {}


def custom_name(vertex: Vertex) -> str:
    """`[build.envd:7] install.apt_packages jq`: the label progress displays show."""
    if vertex.position is None:
        return vertex.name
    return f"[{PurePath(vertex.position.file).name}:{vertex.position.line}] {vertex.name}"


def build_source_map(order, sources: Mapping[str, str]) -> pb.Source | None:
    located = [(v, d) for v, d in order if v.position is not None]
    if not located:
        return None
    files = sorted({v.position.file for v, _ in located})
    source = pb.Source()
    for filename in files:
        source.infos.add(filename=filename, data=sources.get(filename, "").encode())
    for vertex, digest in located:
        pos = vertex.position
        line_text = line_of(sources.get(pos.file, ""), pos.line)
        start = pb.Position(line=pos.line, character=max(pos.column - 1, 0))
        end = pb.Position(line=pos.line, character=max(len(line_text), start.character))
        source.locations[digest].locations.add(
            sourceIndex=files.index(pos.file), ranges=[pb.Range(start=start, end=end)]
        )
    return source


def line_of(text: str, line: int) -> str:
    lines = text.splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else ""


# --- one vertex -> pb.Op ------------------------------------------------------------

def op_for(vertex: Vertex, inputs: list[pb.Input]) -> pb.Op:
    op = pb.Op(inputs=inputs)
    if vertex.platform is not None:
        op.platform.CopyFrom(platform_pb(vertex.platform))
    if isinstance(vertex, SourceVertex):
        op.source.CopyFrom(pb.SourceOp(identifier=vertex.identifier, attrs=dict(vertex.attrs)))
    elif isinstance(vertex, ExecVertex):
        op.exec.CopyFrom(exec_pb(vertex))
    elif isinstance(vertex, FileVertex):
        op.file.CopyFrom(file_pb(vertex))
    elif isinstance(vertex, MergeVertex):
        op.merge.CopyFrom(pb.MergeOp(inputs=[pb.MergeInput(input=input_index(vertex.inputs, layer))
                                             for layer in vertex.layers]))
    elif isinstance(vertex, DiffVertex):
        op.diff.CopyFrom(pb.DiffOp(lower=pb.LowerDiffInput(input=input_index(vertex.inputs, vertex.lower)),
                                   upper=pb.UpperDiffInput(input=input_index(vertex.inputs, vertex.upper))))
    else:  # pragma: no cover - the Vertex union is closed
        raise TypeError(f"unknown vertex {vertex!r}")
    return op


def platform_pb(platform: Platform) -> pb.Platform:
    return pb.Platform(OS=platform.os, Architecture=platform.architecture, Variant=platform.variant)


def exec_pb(vertex: ExecVertex) -> pb.ExecOp:
    inputs = vertex.inputs
    meta = pb.Meta(args=vertex.args, env=vertex.env, cwd=vertex.cwd, user=vertex.user,
                   hostname=vertex.hostname)
    if vertex.proxy_env is not None:
        p = vertex.proxy_env
        meta.proxy_env.CopyFrom(pb.ProxyEnv(http_proxy=p.http_proxy, https_proxy=p.https_proxy,
                                            ftp_proxy=p.ftp_proxy, no_proxy=p.no_proxy,
                                            all_proxy=p.all_proxy))
    numbered = vertex.output_mounts()   # BuildKit numbers an exec's results in mount order
    root_output = 0 if numbered[:1] == (None,) else NO_INDEX
    root = pb.Mount(input=input_index(inputs, vertex.root), dest="/", output=root_output)
    mounts = [root]
    for mount in vertex.ordered_mounts():
        mounts.append(mount_pb(mount, inputs))
        if mount.output or mount.committed:
            mounts[-1].output = next(i for i, m in enumerate(numbered) if m is mount)
    return pb.ExecOp(meta=meta, mounts=mounts, network=vertex.network.value,
                     security=vertex.security.value)


def mount_pb(mount: Mount, inputs) -> pb.Mount:
    """An extra mount, its output numbered by exec_pb (the step's result, or a committed mount)."""
    if mount.cache_id:
        return pb.Mount(input=NO_INDEX, dest=mount.dest, output=NO_INDEX, readonly=mount.readonly,
                        mountType=pb.CACHE,
                        cacheOpt=pb.CacheOpt(ID=mount.cache_id, sharing=mount.sharing.value))
    if mount.tmpfs:
        return pb.Mount(input=NO_INDEX, dest=mount.dest, output=NO_INDEX, mountType=pb.TMPFS,
                        TmpfsOpt=pb.TmpfsOpt(size=mount.tmpfs_size))
    return pb.Mount(input=input_index(inputs, mount.source), selector=mount.selector,
                    dest=mount.dest, output=NO_INDEX, readonly=mount.readonly,
                    mountType=pb.BIND)


def file_pb(vertex: FileVertex) -> pb.FileOp:
    """Actions chain: each reads the previous one's result, named len(inputs) + its index."""
    inputs = vertex.inputs
    actions = []
    last = len(vertex.actions) - 1
    for i, action in enumerate(vertex.actions):
        base = input_index(inputs, vertex.base) if i == 0 else len(inputs) + i - 1
        entry = pb.FileAction(input=base, secondaryInput=NO_INDEX, output=0 if i == last else NO_INDEX)
        if isinstance(action, Mkfile):
            entry.mkfile.CopyFrom(pb.FileActionMkFile(path=action.path, mode=action.mode,
                                                      data=action.data, timestamp=UNSET_TIME))
        elif isinstance(action, Mkdir):
            entry.mkdir.CopyFrom(pb.FileActionMkDir(path=action.path, mode=action.mode,
                                                    makeParents=action.make_parents,
                                                    timestamp=UNSET_TIME))
        elif isinstance(action, Rm):
            entry.rm.CopyFrom(pb.FileActionRm(path=action.path, allowNotFound=action.allow_not_found,
                                              allowWildcard=action.allow_wildcard))
        elif isinstance(action, Copy):
            entry.secondaryInput = input_index(inputs, action.source)
            entry.copy.CopyFrom(pb.FileActionCopy(
                src=action.src, dest=action.dest, mode=action.mode,
                followSymlink=action.follow_symlink, dirCopyContents=action.dir_copy_contents,
                createDestPath=action.create_dest_path, allowWildcard=action.allow_wildcard,
                timestamp=UNSET_TIME))
        else:  # pragma: no cover
            raise TypeError(f"unknown file action {action!r}")
        actions.append(entry)
    return pb.FileOp(actions=actions)
