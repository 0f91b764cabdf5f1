"""Does this BuildKit run MergeOp and DiffOp? Asked once per build of a plan with states.

BuildKit's Control API reports no LLB capabilities (its gateway does, inside a frontend
session), and the version is not enough: BuildKit v0.8 (Engine 20.10) predates both ops
and the Info call, while an Engine 23+ answers Info but disables "mergeop" unless it
uses the containerd image store. So: no Info, no MergeOp; otherwise solve a two-file
merge and diff without exporting anything, which BuildKit refuses when loading the
definition if either cap is off (then it ran nothing). The probe's vertices are tiny
and cached after the first time.
"""

from __future__ import annotations

import os

from envtrack.buildkit.client import SolveFailure, connect

MERGE_OP_ENV = "ENVTRACK_MERGE_OP"   # "0": use the fallback even where MergeOp works


def supports_merge_op(builder: str | None) -> bool:
    if os.environ.get(MERGE_OP_ENV) == "0":
        return False
    with connect(builder) as buildkit:
        if buildkit.version() is None:
            return False
        try:
            buildkit.solve(probe_definition(), exporter="", exporter_attrs={}, on_status=lambda _: None)
        except SolveFailure:
            return False
    return True


def probe_definition() -> bytes:
    from envtrack.state import Mkfile, State

    left = State.scratch().file(Mkfile("/left", b"left\n"), name="envtrack mergeop probe")
    right = State.scratch().file(Mkfile("/right", b"right\n"), name="envtrack mergeop probe")
    merged = State.merge([left, State.diff(left, right, name="envtrack diffop probe")],
                         name="envtrack mergeop probe")
    return merged.marshal().SerializeToString(deterministic=True)
