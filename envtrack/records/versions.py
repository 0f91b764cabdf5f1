"""Version order: dpkg's for apt, PEP 440 for pip and conda."""

from __future__ import annotations

import re
from typing import Tuple


def _dpkg_order(char: str) -> int:
    if char == "~":
        return -1
    if char.isdigit():
        return 0
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _dpkg_compare_part(a: str, b: str) -> int:
    """dpkg's verrevcmp: alternate non-digit runs (with ~ sorting first) and numbers."""
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _dpkg_order(a[i]) if i < len(a) else 0
            bc = _dpkg_order(b[j]) if j < len(b) else 0
            if ac != bc:
                return -1 if ac < bc else 1
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return -1 if first_diff < 0 else 1
    return 0


def _dpkg_split(version: str) -> Tuple[int, str, str]:
    epoch, colon, rest = version.partition(":")
    if not colon:
        epoch, rest = "0", version
    upstream, dash, revision = rest.rpartition("-")
    if not dash:
        upstream, revision = rest, ""
    try:
        epoch_number = int(epoch)
    except ValueError:
        epoch_number = 0
    return epoch_number, upstream, revision


def compare_dpkg(a: str, b: str) -> int:
    """-1, 0 or 1 as Debian orders versions (epoch, upstream, revision)."""
    ea, ua, ra = _dpkg_split(a)
    eb, ub, rb = _dpkg_split(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _dpkg_compare_part(ua, ub) or _dpkg_compare_part(ra, rb)


_PEP440 = re.compile(
    r"^v?(?:(?P<epoch>\d+)!)?(?P<release>\d+(?:\.\d+)*)"
    r"(?:[-_.]?(?P<pre_l>a|b|c|rc|alpha|beta|pre|preview)[-_.]?(?P<pre_n>\d*))?"
    r"(?:-(?P<post_n1>\d+)|[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>\d*))?"
    r"(?:[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>\d*))?"
    r"(?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?$",
    re.IGNORECASE,
)
_PRE_RANK = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2, "pre": 2, "preview": 2}
_INF = float("inf")


def _pep440_key(version: str):
    match = _PEP440.match(version.strip())
    if not match:
        return None
    release = tuple(int(x) for x in match.group("release").split("."))
    while len(release) > 1 and release[-1] == 0:
        release = release[:-1]
    pre_l, dev_l = match.group("pre_l"), match.group("dev_l")
    post_n = match.group("post_n1") or match.group("post_n2")
    post = -1 if post_n is None and not match.group("post_l") else int(post_n or 0)
    if pre_l:
        pre: Tuple[float, float] = (_PRE_RANK[pre_l.lower()], int(match.group("pre_n") or 0))
    elif dev_l and post < 0:
        pre = (-_INF, 0)  # 1.0.dev1 sorts before 1.0a1
    else:
        pre = (_INF, 0)
    dev = (int(match.group("dev_n") or 0),) if dev_l else (_INF,)
    local = tuple((1, int(p), "") if p.isdigit() else (0, 0, p)
                  for p in re.split(r"[-_.]", match.group("local") or "") if p)
    return (int(match.group("epoch") or 0), release, pre, post, dev, local)


def compare_pep440(a: str, b: str) -> int:
    """-1, 0 or 1 in PEP 440 order; versions it cannot parse fall back to dpkg's order."""
    ka, kb = _pep440_key(a), _pep440_key(b)
    if ka is None or kb is None:
        return compare_dpkg(a, b)
    return (ka > kb) - (ka < kb)


def compare_versions(manager: str, a: str, b: str) -> int:
    return compare_dpkg(a, b) if manager == "apt" else compare_pep440(a, b)
