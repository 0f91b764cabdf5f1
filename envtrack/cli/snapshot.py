"""`envtrack snapshot` (lock the running environment, or check it against the lock) and
`envtrack diff A B` (compare locks, images and running environments)."""

from __future__ import annotations

import json
import sys


def snapshot(file: str | None, output: str | None, check: bool, as_json: bool) -> int:
    """Lock the running environment's packages, or check it against the lock (for CI)."""
    from envtrack.project import open_project
    from envtrack.snapshot import service

    taken = service.snapshot(open_project(file), output, check=check, on_progress=None if as_json else _progress)
    if taken.drift is not None:
        return _print_drift(taken.drift, as_json)
    if as_json:
        current = taken.current
        print(json.dumps({"lock": str(taken.lock_path), "written": taken.written, "packages": taken.counts,
                          "image": current.image.to_json(), "base": current.base.to_json(),
                          "envd_sha256": current.envd_sha256}, indent=2))
        return 0
    described = ", ".join(f"{n} {m}" for m, n in taken.counts.items() if n) or "no packages"
    print(f"{'wrote' if taken.written else 'unchanged'} {taken.lock_path}: {described}")
    return 0


def diff(a: str, b: str, as_json: bool) -> int:
    """Show packages added, removed and changed from A to B. Exit 0 equal, 1 different, 2 error."""
    from envtrack.snapshot.report import render_json, render_text
    from envtrack.snapshot.service import compare

    compared = compare(a, b)
    if as_json:
        print(json.dumps(render_json(compared.result, compared.a, compared.b), indent=2))
    else:
        sys.stdout.write(render_text(compared.result, compared.a, compared.b))
    return 0 if compared.result.equal else 1


def _print_drift(drift, as_json: bool) -> int:
    from envtrack.snapshot.report import render_json, render_text, summary

    if as_json:
        print(json.dumps(render_json(drift.result, drift.a, drift.b, drift.stale, drift.info), indent=2))
    elif drift.drifted:
        sys.stdout.write(render_text(drift.result, drift.a, drift.b, drift.stale, drift.info))
        print(f"envtrack: environment drifted from {drift.a.label}"
              + ("" if drift.result.equal else f": {summary(drift.result)}"), file=sys.stderr)
    else:
        print(f"{drift.b.label.removeprefix('container ')} matches {drift.a.label} "
              f"({len(drift.a.lock.packages)} packages)")
    return 1 if drift.drifted else 0


def _progress(message: str) -> None:
    if sys.stderr.isatty():
        print(f"{message}...", file=sys.stderr)
