"""The build stamp: what the last build read, so an unchanged project skips evaluation.

A cached rebuild should cost about what `docker build` costs for an unchanged
Dockerfile. Evaluating build.envd and compiling LLB is most of envtrack's own time, so
after each build `.envtrack/build-stamp.json` records the hashes of every input the
image depends on: the envd sources (bytes), the build options (CA bundle, proxy
variables: `envtrack.llb.options`, the same object the compiler used), the base
image's id and envtrack's version, and the questions the build asked Open VSX and GitHub
with their answers (envtrack.solve.newest: asked again each build, as envd asks), and what
the server of each download without a checksum says of its bytes (envtrack.solve.unpinned:
asked again each build, as BuildKit asks). When all
still match and the image is still in the Engine, the image is the answer. The stamp names
the project it was written for (its envd file's absolute path and its name): a copied
directory carries the stamp along, and must never answer with the original project's image. Any doubt (a missing or unreadable stamp, a
project that copies host files in) means the normal build, which is always correct.

Imports stay light on purpose: this runs before the CLI framework is loaded.
"""

from __future__ import annotations

import json
from pathlib import Path

from envtrack import __version__
from envtrack.agent.layout import STATE_FILE_MODE
from envtrack.frontend.source import source_digest
from envtrack.fsutil import write_atomic
from envtrack.llb.options import BuildOptions

STAMP_NAME = "build-stamp.json"


def file_digest(path: str | Path, reads: dict[str, bytes] | None = None) -> str:
    """source_digest of PATH's bytes, "missing" when it cannot be read. READS (absolute path ->
    bytes) keeps what was read, and answers for what it holds already: one read per build."""
    key = str(path)
    data = reads.get(key) if reads is not None else None
    if data is None:
        try:
            data = Path(key).read_bytes()
        except OSError:
            return "missing"
        if reads is not None:
            reads[key] = data
    return source_digest(data)


def envd_reads(reads: dict[str, bytes], envd_file: str | Path) -> dict[str, bytes]:
    """The envd files among READS (a stamp lists host files too), for the evaluation to take as read."""
    return {path: data for path, data in reads.items() if path == str(envd_file) or path.endswith(".envd")}


def host_inputs(options: BuildOptions) -> dict:
    """Everything outside the envd files that the compiled build depends on."""
    return {"version": __version__, **options.fingerprint()}


def stamp_path(state_dir: Path) -> Path:
    return state_dir / STAMP_NAME


def owner(envd_file: Path, name: str) -> dict:
    """Which project a stamp belongs to."""
    return {"envd": str(envd_file), "name": name}


def write_stamp(state_dir: Path, *, project: dict, sources: dict[str, str], inputs: dict,
                base: tuple[str, str] | None, result: dict, asks: list[dict] = (),
                downloads: list[dict] = ()) -> None:
    """Record a finished build of PROJECT (`owner()`); SOURCES maps each envd file to the
    digest of the bytes evaluated; ASKS, the questions it asked and their answers; DOWNLOADS,
    each URL without a checksum with its server's validator (envtrack.solve.unpinned)."""
    stamp = {"project": project, "sources": sources, "inputs": inputs, "base": list(base) if base else None,
             "result": result, "asks": list(asks), "downloads": list(downloads)}
    try:
        write_atomic(stamp_path(state_dir), json.dumps(stamp, sort_keys=True), mode=STATE_FILE_MODE)
    except OSError:
        pass  # the stamp only saves time


def read_stamp(state_dir: Path) -> dict | None:
    try:
        stamp = json.loads(stamp_path(state_dir).read_text())
    except (OSError, ValueError):
        return None
    keys = {"project", "sources", "inputs", "base", "result", "asks", "downloads"}   # one without predates them
    return stamp if isinstance(stamp, dict) and keys <= stamp.keys() else None


def still_valid(stamp: dict, project: dict, options: BuildOptions, base_id_of,
                reads: dict[str, bytes] | None = None) -> bool:
    """The stamp is PROJECT's and its inputs are unchanged: sources (the bytes read kept in
    READS, see file_digest), host inputs, and the base image (BASE_ID_OF(ref) -> id)."""
    if stamp["project"] != project or stamp["inputs"] != host_inputs(options):
        return False
    if any(file_digest(path, reads) != digest for path, digest in stamp["sources"].items()):
        return False
    base = stamp["base"]
    return base is None or base_id_of(base[0]) == base[1]
