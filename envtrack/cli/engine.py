"""`envtrack engine setup` and `envtrack doctor`."""

from __future__ import annotations

import json
import sys
import time


def setup(engine_only: bool, base: str | None) -> int:
    """Install docker.io and debootstrap, start dockerd, create the local base images (idempotent)."""
    from envtrack.engine.doctor import setup_engine

    started = time.monotonic()
    code = setup_engine(engine_only, base)
    if code:
        return code
    print(f"engine ready ({time.monotonic() - started:.1f} s)", file=sys.stderr)
    return 0


def doctor(as_json: bool, builder: str | None) -> int:
    """Check the engine, BuildKit, base image, disk, CA and proxy (of the Engine and builder in use)."""
    from pathlib import Path

    from envtrack.engine.doctor import run_checks

    checks = run_checks(Path.cwd(), builder or None)   # no project: the working directory's choice
    if as_json:
        print(json.dumps([c.to_json() for c in checks], indent=2, sort_keys=True))
    else:
        for check in checks:
            mark = "ok  " if check.ok else "FAIL"
            print(f"{mark} {check.name:<15} {check.detail}")
            if not check.ok and check.fix:
                print(f"     fix: {check.fix}")
    return 0 if all(c.ok for c in checks) else 1
