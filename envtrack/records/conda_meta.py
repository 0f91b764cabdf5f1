"""conda, mamba and micromamba prefixes: conda-meta/*.json and conda-meta/history."""

from __future__ import annotations

import ast
import glob
import json
import os
import re
from typing import Dict, List, Optional, Sequence, Set

from envtrack.records.files import inside, read_text, under
from envtrack.records.package import Package
from envtrack.records.redact import redact_url


_CONDA_CANDIDATES = (
    "/opt/conda", "/opt/*", "/opt/conda/envs/*", "/opt/*/envs/*",
    "/root/*conda*", "/root/*conda*/envs/*", "/home/*/*conda*", "/home/*/*conda*/envs/*",
    "/usr/local", "/workspace/*",
)


def find_conda_prefixes(root: str = "/") -> List[str]:
    found = set()
    for pattern in _CONDA_CANDIDATES:
        for prefix in glob.glob(under(root, pattern)):
            if os.path.isdir(os.path.join(prefix, "conda-meta")):
                found.add(prefix)
    return sorted(found)


def _spec_name(spec: str) -> str:
    """`conda-forge::numpy[version='>=1']`, `numpy >=1.2`, `numpy=1.2=py_0` -> numpy."""
    spec = spec.strip().split("::")[-1]
    match = re.match(r"[A-Za-z0-9_.\-]+", spec)
    return match.group(0).lower() if match else ""


def conda_requested_names(history: str) -> Set[str]:
    """Names the user asked for, replayed from conda-meta/history spec lines."""
    requested: Set[str] = set()
    for line in history.splitlines():
        match = re.match(r"#\s*(update|install|remove|neutered) specs:\s*(.*)$", line.strip())
        if not match:
            continue
        try:
            specs = ast.literal_eval(match.group(2))
        except (ValueError, SyntaxError):
            continue
        names = {_spec_name(s) for s in specs if isinstance(s, str)} - {""}
        if match.group(1) == "remove":
            requested -= names
        elif match.group(1) != "neutered":
            requested |= names
    return requested


def _asked_for(requested_spec: object) -> bool:
    """conda writes the string "None" into a dependency's record, micromamba and rattler ""."""
    return bool(requested_spec) and str(requested_spec) != "None"


def _channel(record: Dict) -> str:
    channel = record.get("channel") or record.get("schannel") or ""
    return redact_url(str(channel))


def read_conda_prefix(root: str, prefix: str) -> List[Package]:
    meta = os.path.join(prefix, "conda-meta")
    requested = conda_requested_names(read_text(os.path.join(meta, "history")) or "")
    env = inside(root, prefix)
    packages = []
    for path in sorted(glob.glob(os.path.join(meta, "*.json"))):
        try:
            with open(path, encoding="utf-8") as handle:
                record = json.load(handle)
        except (OSError, ValueError):
            continue  # conda is still writing it, or it is not a package record
        if not isinstance(record, dict) or not record.get("name"):
            continue
        name = str(record["name"]).lower()
        is_requested = name in requested or _asked_for(record.get("requested_spec"))
        packages.append(Package("conda", name, str(record.get("version", "")), env, is_requested,
                                source=_channel(record),
                                build=str(record.get("build") or record.get("build_string") or "")))
    return packages


def read_conda(root: str = "/", prefixes: Optional[Sequence[str]] = None) -> List[Package]:
    found = [under(root, p) for p in prefixes] if prefixes is not None else find_conda_prefixes(root)
    packages: List[Package] = []
    for prefix in found:
        packages.extend(read_conda_prefix(root, prefix))
    return packages
