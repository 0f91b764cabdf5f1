"""The build stamp: what the last build read, so an unchanged project skips evaluation.

A cached rebuild should cost about what `docker build` costs for an unchanged
Dockerfile. Evaluating build.envd and compiling LLB is most of envtrack's own time, so
after each build `.envtrack/build-stamp.json` records the hashes of every input the
image depends on: the envd sources (bytes), the CA bundle, the proxy variables, the
base image's id and envtrack's version. When all still match and the image is still in
the Engine, the image is the answer. Any doubt (a missing or unreadable stamp, a
project that copies host files in) means the normal build, which is always correct.

Imports stay light on purpose: this runs before the CLI framework is loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from envtrack import __version__

STAMP_NAME = "build-stamp.json"
DEFAULT_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
PROXY_NAMES = {"http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy"}
HOST_FILE_STEPS = {"io.copy", "config.ca_certificates"}  # read host files the stamp does not track


def file_digest(path: str | Path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return "missing"


def host_inputs(bake_ca: bool, environ: dict[str, str] | None = None) -> dict:
    """Everything outside the envd files that the compiled build depends on."""
    environ = dict(os.environ if environ is None else environ)
    bundle = environ.get("ENVTRACK_CA_BUNDLE", DEFAULT_CA_BUNDLE)
    proxies = sorted([k, v] for k, v in environ.items() if k.lower() in PROXY_NAMES and v)  # JSON-shaped
    return {"version": __version__, "bake_ca": bake_ca, "ca_bundle": [bundle, file_digest(bundle)],
            "proxies": proxies}


def stamp_path(state_dir: Path) -> Path:
    return state_dir / STAMP_NAME


def write_stamp(state_dir: Path, *, sources: dict[str, str], inputs: dict, base: tuple[str, str] | None,
                result: dict) -> None:
    """Record a finished build; SOURCES maps each envd file to the digest of the bytes evaluated."""
    stamp = {"sources": sources, "inputs": inputs, "base": list(base) if base else None, "result": result}
    path = stamp_path(state_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(stamp, sort_keys=True))
        os.replace(temporary, path)
    except OSError:
        pass  # the stamp only saves time


def read_stamp(state_dir: Path) -> dict | None:
    try:
        stamp = json.loads(stamp_path(state_dir).read_text())
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) and {"sources", "inputs", "base", "result"} <= stamp.keys() else None


def still_valid(stamp: dict, bake_ca: bool, base_id_of) -> bool:
    """The stamp's inputs are unchanged: sources, host inputs, and the base image (BASE_ID_OF(ref) -> id)."""
    if stamp["inputs"] != host_inputs(bake_ca):
        return False
    if any(file_digest(path) != digest for path, digest in stamp["sources"].items()):
        return False
    base = stamp["base"]
    return base is None or base_id_of(base[0]) == base[1]
