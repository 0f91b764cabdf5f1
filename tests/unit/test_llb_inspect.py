"""describe() reads compiled definitions back in a form people and scripts can read."""

from __future__ import annotations

from envtrack.errors import Position
from envtrack.frontend.steps import Plan, Step
from envtrack.llb.compile import compile_plan
from envtrack.llb.options import BuildOptions
from envtrack.llb.inspect import describe


def test_describe_lists_vertices_with_names_kinds_and_mounts():
    steps = (
        Step("base", {"image": "envtrack/base:bookworm", "dev": False}, Position("build.envd", 2, 5)),
        Step("install.apt_packages", {"name": ["jq"]}, Position("build.envd", 3, 5)),
    )
    compiled = compile_plan(Plan("build.envd", "build", steps), BuildOptions(ca_bundle=b"pem"))
    vertices = describe(compiled.definition)
    by_kind = {v["kind"]: v for v in vertices}
    assert by_kind["source"]["detail"]["identifier"] == "docker-image://docker.io/envtrack/base:bookworm"
    apt = vertices[-1]
    assert apt["digest"] == compiled.digest
    assert apt["name"] == "[build.envd:3] install.apt_packages jq"
    mounts = {m["dest"]: m for m in apt["detail"]["mounts"]}
    assert mounts["/var/lib/apt/lists"]["cache"] == "envtrack-apt-lists"
    assert mounts["/run/envtrack/ca.pem"] == {"dest": "/run/envtrack/ca.pem", "type": "bind", "readonly": True}
    assert {"mkfile": "/ca.pem", "bytes": 3, "mode": "0o444"} in by_kind["file"]["detail"]["actions"]
