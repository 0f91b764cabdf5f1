"""compile_plan: a frontend Plan -> a deterministic LLB definition plus the image config.

The only I/O is reading the host files the plan names (`envtrack.llb.host`); lowering
(`envtrack.llb.lower`) and marshalling (`envtrack.state`) are pure, so the same envd
file, host files and options always give byte-identical definitions and digests.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from envtrack.frontend.steps import Plan, Step
from envtrack.llb.context import Download
from envtrack.llb.envd import base_image
from envtrack.llb.host import HostInputError, read_host_inputs
from envtrack.llb.image_config import ImageConfig
from envtrack.llb.lower import lower
from envtrack.llb.options import BuildOptions
from envtrack.state import marshal_graph


@dataclass(frozen=True)
class CompiledBuild:
    definition: bytes                       # deterministic serialized pb.Definition
    digest: str                             # the final vertex
    image_config: ImageConfig
    steps_by_vertex: dict[str, Step]        # vertex digest -> the user step that made it
    base_image: str = ""                    # the image the build starts from
    downloads: tuple[Download, ...] = ()    # every URL fetched or handed to an installer
    downloads_by_vertex: dict[str, Download] = field(default_factory=dict)   # HTTP source digest -> it


def compile_plan(plan: Plan, options: BuildOptions | None = None) -> CompiledBuild:
    options = options or BuildOptions()
    common = {"ca_bundle": options.ca_bundle, "proxy_env": options.proxy_env, "owner": options.owner,
              "mirrors": options.mirrors, "arch": options.arch, "pins": dict(options.image_pins),
              "conda_tool": options.conda_tool}
    try:
        host = read_host_inputs(plan)
    except HostInputError as failed:
        # The earliest problem first: a step before the unreadable file may be wrong too.
        earlier = replace(plan, steps=plan.steps[:failed.index])
        lower(earlier, failed.inputs, **common)
        raise failed.error from None
    if plan.states:
        from envtrack.llb.graph import lower_graph

        lowered = lower_graph(plan, host, bake_ca=options.bake_ca, merge_op=options.merge_op, **common)
    else:
        lowered = lower(plan, host, bake_ca=options.bake_ca, **common)
    marshalled = marshal_graph(lowered.state, sources=plan.sources)
    steps = {marshalled.digest_of(output.vertex): step for output, step in lowered.step_outputs}
    fetched = {marshalled.by_id[id(d.output.vertex)]: d for d in lowered.downloads
               if d.output is not None and id(d.output.vertex) in marshalled.by_id}
    return CompiledBuild(
        definition=marshalled.definition.SerializeToString(deterministic=True),
        digest=marshalled.digest,
        image_config=lowered.image_config,
        steps_by_vertex=steps,
        base_image=base_image(plan),
        downloads=lowered.downloads,
        downloads_by_vertex=fetched,
    )

