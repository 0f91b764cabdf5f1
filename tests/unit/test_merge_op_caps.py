"""Whether the Engine's BuildKit runs MergeOp is probed once per Engine setup, then remembered."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from envtrack.endpoints import BuilderEndpoint, EngineEndpoint, Endpoints
from envtrack.engine import api
from envtrack.solve import caps

ROOT = Path(__file__).resolve().parents[2]


def info(driver: str = "overlayfs", version: str = "26.1.5", driver_type: str = "io.containerd.snapshotter.v1"):
    return {"ID": "engine-1", "ServerVersion": version, "Driver": driver,
            "DriverStatus": [["driver-type", driver_type]] if driver_type else [["Backing Filesystem", "extfs"]]}


def answering(monkeypatch, tmp_path, document, answers):
    """The Engine answers /info with DOCUMENT; each probe pops the next of ANSWERS."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(caps.MERGE_OP_ENV, raising=False)
    monkeypatch.setattr(api, "request", lambda endpoint, method, path, *a, **k: (200, document()))
    probes = []
    monkeypatch.setattr(caps, "probe", lambda endpoints: probes.append(endpoints.builder.address) or answers.pop(0))
    return probes


def on(builder: str | None = None) -> Endpoints:
    """The test Engine's own BuildKit, or the standalone BUILDER."""
    return Endpoints(EngineEndpoint("unix:///run/test-engine.sock"), BuilderEndpoint(builder), None)


def test_the_probe_runs_once_per_engine_setup(monkeypatch, tmp_path):
    current = {"doc": info()}
    probes = answering(monkeypatch, tmp_path, lambda: current["doc"], [True, False, False])
    assert caps.supports_merge_op(on()) is True
    assert caps.supports_merge_op(on()) is True          # remembered: no second probe
    assert len(probes) == 1
    current["doc"] = info(driver="overlay2", driver_type="")   # the same Engine off the containerd store
    assert caps.supports_merge_op(on()) is False and len(probes) == 2
    current["doc"] = info(driver="overlay2", driver_type="", version="27.0.0")   # upgraded
    assert caps.supports_merge_op(on()) is False and len(probes) == 3
    current["doc"] = info()
    assert caps.supports_merge_op(on()) is True and len(probes) == 3   # the first setup is still known
    assert len(json.loads((tmp_path / "envtrack" / caps.REMEMBERED).read_text())) == 3


def test_a_standalone_builder_and_an_engine_without_an_id_are_probed_every_time(monkeypatch, tmp_path):
    probes = answering(monkeypatch, tmp_path, lambda: {"ServerVersion": "26.1.5"}, [True, True, True, True])
    assert caps.supports_merge_op(on()) and caps.supports_merge_op(on())
    standalone = on("unix:///run/buildkitd.sock")
    assert caps.supports_merge_op(standalone) and caps.supports_merge_op(standalone)
    assert probes == [None, None, "unix:///run/buildkitd.sock", "unix:///run/buildkitd.sock"]
    assert not (tmp_path / "envtrack" / caps.REMEMBERED).exists()


def test_an_unreadable_memory_means_a_probe(monkeypatch, tmp_path):
    probes = answering(monkeypatch, tmp_path, info, [False])
    (tmp_path / "envtrack").mkdir()
    (tmp_path / "envtrack" / caps.REMEMBERED).write_text("{not json")
    assert caps.supports_merge_op(on()) is False and len(probes) == 1


def test_the_fallback_setting_wins_without_asking(monkeypatch, tmp_path):
    probes = answering(monkeypatch, tmp_path, info, [True])
    monkeypatch.setenv(caps.MERGE_OP_ENV, "0")
    assert caps.supports_merge_op(on()) is False and probes == []


def test_asking_for_a_remembered_answer_loads_no_grpc():
    code = "import sys, envtrack.solve.caps\nprint('grpc' in sys.modules)"
    out = subprocess.run([sys.executable, "-S", "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
