"""Which images a build reads (pulled when the Engine lacks them), and locked builds naming digests."""

from __future__ import annotations

from pathlib import Path

from envtrack.frontend import load_plan
from envtrack.llb.compile import compile_plan
from envtrack.llb.envd import image_uses
from envtrack.llb.options import BuildOptions
from envtrack.pb import ops_pb2 as pb


def plan_of(tmp_path: Path, body: str):
    (tmp_path / "build.envd").write_text("def build():\n" + body)
    return load_plan(tmp_path / "build.envd")


def test_without_base_the_build_reads_envds_default(tmp_path: Path) -> None:
    uses = image_uses(plan_of(tmp_path, '    run(commands=["true"])\n'))
    assert [ref for ref, _ in uses] == ["ubuntu:22.04"] and "no base()" in uses[0][1]


def test_cuda_states_and_copies_are_read_once_each_with_where_they_are_named(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, '    base(image="ubuntu:22.04")\n    install.cuda(version="11.6.2")\n'
                             '    io.copy(source="/etc/x", target="/x", image="r.example:5000/tools:1")\n'
                             '    io.copy(source="/etc/y", target="/y", image="r.example:5000/tools:1")\n')
    assert image_uses(plan) == (("nvidia/cuda:11.6.2-cudnn8-runtime-ubuntu22.04", f"{plan.file}:3:5"),
                                ("r.example:5000/tools:1", f"{plan.file}:4:5"))


def test_a_state_image_is_read_and_an_unused_main_base_is_not(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, '    tool = image("r.example:5000/tool:1")\n    return tool\n')
    assert [ref for ref, _ in image_uses(plan)] == ["r.example:5000/tool:1"]


def test_a_pinned_reference_is_built_from_its_digest(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, '    base(image="r.example:5000/team/base:1")\n    run(commands=["true"])\n')
    digest = "r.example:5000/team/base@sha256:" + "ab" * 32
    definition = pb.Definition.FromString(compile_plan(plan, BuildOptions(
        image_pins=(("r.example:5000/team/base:1", digest),))).definition)
    sources = [op.source.identifier for op in map(pb.Op.FromString, getattr(definition, "def")[:-1])
               if op.HasField("source")]
    assert f"docker-image://{digest}" in sources
