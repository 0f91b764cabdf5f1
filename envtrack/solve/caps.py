"""Does this BuildKit run MergeOp and DiffOp? Asked once per Engine, for builds of plans with states.

BuildKit's Control API reports no LLB capabilities (its gateway does, inside a frontend
session), and the version is not enough: BuildKit v0.8 (Engine 20.10) predates both ops
and the Info call, while an Engine 23+ answers Info but disables "mergeop" unless it
uses the containerd image store. So: no Info, no MergeOp; otherwise solve a two-file
merge and diff without exporting anything, which BuildKit refuses when loading the
definition if either cap is off (then it ran nothing). The probe's vertices are tiny
and cached after the first time.

The Engine's own BuildKit is probed once: the answer is remembered in the user's cache
under what decides it and what changes whenever it could change: the endpoint, the
Engine's ID and version and its storage driver (the containerd image store is another
driver). So a build of a branched project that is already built costs one `/info` call
here, not a gRPC connection and a solve (with the gRPC import, a quarter of a cached
build). A standalone buildkitd (--builder) is probed every time: nothing cheap names it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from envtrack.endpoints import EngineEndpoint, Endpoints

MERGE_OP_ENV = "ENVTRACK_MERGE_OP"   # "0": use the fallback even where MergeOp works
REMEMBERED = "engine-caps.json"


def supports_merge_op(endpoints: Endpoints) -> bool:
    """Whether the builder ENDPOINTS name (its Engine's own BuildKit, or a standalone one) runs both ops."""
    if os.environ.get(MERGE_OP_ENV) == "0":
        return False
    standalone = endpoints.builder.address is not None
    key = None if standalone else engine_key(endpoints.engine)
    known = remembered().get(key) if key else None
    if isinstance(known, bool):
        return known
    answer = probe(endpoints)
    if key:
        remember(key, answer)
    return answer


def probe(endpoints: Endpoints) -> bool:
    from envtrack.buildkit.client import SolveFailure, connect

    with connect(endpoints) as buildkit:
        if buildkit.version() is None:
            return False
        try:
            buildkit.solve(probe_definition(), exporter="", exporter_attrs={}, on_status=lambda _: None)
        except SolveFailure:
            return False
    return True


def engine_key(endpoint: EngineEndpoint) -> str | None:
    """What names the BuildKit setup of the Engine at ENDPOINT, from `/info`; None when it does not say."""
    from envtrack.engine import api

    status, info = api.request(endpoint, "GET", "/info")
    if status != 200 or not isinstance(info, dict) or not info.get("ID") or not info.get("ServerVersion"):
        return None
    driver_type = dict(pair for pair in info.get("DriverStatus") or () if len(pair) == 2).get("driver-type", "")
    return " ".join([endpoint.host, str(info["ID"]), str(info["ServerVersion"]), str(info.get("Driver", "")),
                     str(driver_type)])


def cache_file() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "envtrack" / REMEMBERED


def remembered() -> dict:
    try:
        found = json.loads(cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def remember(key: str, answer: bool) -> None:
    from envtrack.fsutil import write_atomic

    path = cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps({**remembered(), key: answer}, sort_keys=True))
    except OSError:
        pass   # remembering only saves time


def probe_definition() -> bytes:
    from envtrack.state import Mkfile, State

    left = State.scratch().file(Mkfile("/left", b"left\n"), name="envtrack mergeop probe")
    right = State.scratch().file(Mkfile("/right", b"right\n"), name="envtrack mergeop probe")
    merged = State.merge([left, State.diff(left, right, name="envtrack diffop probe")],
                         name="envtrack mergeop probe")
    return merged.marshal().SerializeToString(deterministic=True)
