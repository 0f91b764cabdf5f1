"""compile_plan: a frontend Plan -> a deterministic LLB definition plus the image config.

The only I/O is reading the host files the plan names (`envtrack.llb.host`); lowering
(`envtrack.llb.lower`) and marshalling (`envtrack.state`) are pure, so the same envd
file, host files and options always give byte-identical definitions and digests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from envtrack.frontend.steps import Plan, Step
from envtrack.llb.host import read_host_inputs
from envtrack.llb.image_config import ImageConfig
from envtrack.llb.lower import lower
from envtrack.state import marshal_graph

DEFAULT_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


@dataclass(frozen=True)
class BuildOptions:
    ca_bundle: bytes | None = None          # host CA bundle mounted into fetching steps
    proxy_env: dict[str, str] = field(default_factory=dict)  # HTTP(S)_PROXY etc.; outside cache keys
    bake_ca: bool = False                   # also install the bundle into the image


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


def default_build_options(*, bake_ca: bool = False, environ: dict[str, str] | None = None) -> BuildOptions:
    """Options from the host: its CA bundle if present and proxy variables (I/O, for callers)."""
    import os
    from pathlib import Path

    environ = dict(os.environ if environ is None else environ)
    bundle = Path(environ.get("ENVTRACK_CA_BUNDLE", DEFAULT_CA_BUNDLE))
    proxies = {k: v for k, v in environ.items()
               if k.lower() in {"http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy"} and v}
    return BuildOptions(ca_bundle=bundle.read_bytes() if bundle.is_file() else None,
                        proxy_env=proxies, bake_ca=bake_ca)
