"""Read a serialized Definition back as plain dicts, for debugging, `--json` output and tests."""

from __future__ import annotations

import hashlib

from envtrack.pb import ops_pb2 as pb
from envtrack.state.marshal import CUSTOM_NAME


def describe(definition: bytes) -> list[dict]:
    """One dict per vertex in `def` order (the final result-naming Op is left out)."""
    parsed = pb.Definition()
    parsed.ParseFromString(definition)
    vertices = []
    for data in getattr(parsed, "def")[:-1]:
        op = pb.Op()
        op.ParseFromString(data)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        kind = op.WhichOneof("op")
        vertices.append({
            "digest": digest,
            "name": parsed.metadata[digest].description.get(CUSTOM_NAME, ""),
            "kind": kind,
            "inputs": [i.digest for i in op.inputs],
            "detail": _detail(op, kind),
        })
    return vertices


def _detail(op: pb.Op, kind: str) -> dict:
    if kind == "source":
        return {"identifier": op.source.identifier}
    if kind == "exec":
        meta = op.exec.meta
        mounts = [{"dest": m.dest, "type": pb.MountType.Name(m.mountType).lower(),
                   "readonly": m.readonly, **({"cache": m.cacheOpt.ID} if m.cacheOpt.ID else {})}
                  for m in op.exec.mounts]
        return {"args": list(meta.args), "env": list(meta.env), "cwd": meta.cwd, "mounts": mounts}
    if kind == "file":
        return {"actions": [_action(a) for a in op.file.actions]}
    return {}


def _action(action: pb.FileAction) -> dict:
    which = action.WhichOneof("action")
    body = getattr(action, which)
    if which == "copy":
        return {"copy": body.src, "to": body.dest}
    if which == "mkfile":
        return {"mkfile": body.path, "bytes": len(body.data), "mode": oct(body.mode)}
    return {which: body.path}
