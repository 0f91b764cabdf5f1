"""Reading a container's files from the host or from inside: ROOT-relative paths and tolerant reads."""

from __future__ import annotations

import os
from typing import Optional


def inside(root: str, path: str) -> str:
    """PATH (under ROOT on this machine) as the container sees it."""
    rel = os.path.relpath(path, root)
    return "/" if rel == "." else "/" + rel.replace(os.sep, "/")


def under(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def read_text(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None
