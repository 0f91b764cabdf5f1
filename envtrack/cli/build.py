"""`envtrack build`."""

from __future__ import annotations

import json


def build(file: str | None, progress: str, builder: str | None, bake_ca: bool, pull: bool, as_json: bool,
          cache_to: str | None = None, cache_from: str | None = None) -> None:
    """Build the environment on BuildKit, in exactly the order build.envd says."""
    from envtrack.solve.service import SharedCache, build_project
    from envtrack.project import open_project

    result = build_project(open_project(file, builder=builder), progress=progress, bake_ca=bake_ca, pull=pull,
                           cache=SharedCache(cache_to or "", cache_from or ""))
    print(json.dumps(result.to_json(), indent=2, sort_keys=True) if as_json else result.summary())
