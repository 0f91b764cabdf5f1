"""The committed protobuf modules are exactly what proto/generate.py produces now."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from envtrack.pb import ops_pb2

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "envtrack" / "pb"


def load_generator():
    spec = importlib.util.spec_from_file_location("proto_generate", ROOT / "proto" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_stubs_match_a_fresh_generation(tmp_path):
    written = load_generator().generate(tmp_path)
    assert {p.name for p in written} >= {"ops_pb2.py"}
    for fresh in written:
        committed = COMMITTED / fresh.name
        assert committed.exists(), f"{fresh.name} is generated but not committed"
        assert committed.read_text() == fresh.read_text(), (
            f"{committed} is stale: run `python proto/generate.py`"
        )


def test_generated_imports_are_package_relative(tmp_path):
    for fresh in load_generator().generate(tmp_path):
        for line in fresh.read_text().splitlines():
            assert not (line.startswith("import ") and "_pb2" in line), line


def test_field_numbers_match_buildkit():
    """Spot checks against BuildKit's numbering: a wrong number is silently ignored by the daemon."""
    numbers = {
        (ops_pb2.Op, "platform"): 10,
        (ops_pb2.Op, "file"): 4,
        (ops_pb2.Meta, "proxy_env"): 5,
        (ops_pb2.Meta, "hostname"): 7,
        (ops_pb2.Mount, "cacheOpt"): 20,
        (ops_pb2.Mount, "TmpfsOpt"): 19,
        (ops_pb2.Mount, "mountType"): 6,
        (ops_pb2.FileAction, "mkfile"): 5,
        (ops_pb2.FileAction, "rm"): 7,
        (ops_pb2.FileActionMkFile, "timestamp"): 5,
        (ops_pb2.FileActionCopy, "timestamp"): 11,
        (ops_pb2.OpMetadata, "caps"): 5,
        (ops_pb2.Definition, "Source"): 3,
    }
    for (message, field), number in numbers.items():
        assert message.DESCRIPTOR.fields_by_name[field].number == number, (message, field)
    assert ops_pb2.CacheSharingOpt.Value("LOCKED") == 2
    assert ops_pb2.MountType.Value("TMPFS") == 4
