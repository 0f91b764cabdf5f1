"""compile_plan: a frontend Plan -> a deterministic LLB definition plus the image config.

The only I/O is reading the host files the plan names (`envtrack.lower.host`); lowering
(`envtrack.lower.lower`) and marshalling (`envtrack.state`) are pure, so the same envd
file, host files and options always give byte-identical definitions and digests.
"""

from __future__ import annotations

from dataclasses import dataclass

from envtrack.frontend.steps import Plan, Step
from envtrack.lower.host import read_host_inputs
from envtrack.lower.image_config import ImageConfig
from envtrack.lower.lower import lower
from envtrack.lower.options import BuildOptions
from envtrack.state import marshal_graph


@dataclass(frozen=True)
class CompiledBuild:
    definition: bytes                       # deterministic serialized pb.Definition
    digest: str                             # the final vertex
    image_config: ImageConfig
    steps_by_vertex: dict[str, Step]        # vertex digest -> the user step that made it


def compile_plan(plan: Plan, options: BuildOptions | None = None) -> CompiledBuild:
    options = options or BuildOptions()
    host = read_host_inputs(plan)
    lowered = lower(plan, host, ca_bundle=options.ca_bundle, proxy_env=options.proxy_env,
                    bake_ca=options.bake_ca)
    marshalled = marshal_graph(lowered.state, sources=plan.sources)
    steps = {marshalled.digest_of(output.vertex): step for output, step in lowered.step_outputs}
    return CompiledBuild(
        definition=marshalled.definition.SerializeToString(deterministic=True),
        digest=marshalled.digest,
        image_config=lowered.image_config,
        steps_by_vertex=steps,
    )

