"""Package requirement strings as build.envd writes them, per manager (sync and locked builds). Pure.

pip:   PEP 508 (`name[extras] specifiers ; marker` or `name @ url`), names compared
       PEP 503-canonically.
apt:   `name[:arch][=version]`.
conda: `[channel::]name[=version | specifiers]`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from envtrack import records

PIN_MODES = ("exact", "compatible", "none")

_PIP = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?P<extras>\[[^\]]*\])?"
    r"\s*(?P<rest>[^;]*?)\s*(?P<marker>;.*)?$"
)
_APT = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9+.-]*)(?P<arch>:[A-Za-z0-9-]+)?(?P<rest>[=/].*)?$")
_CONDA = re.compile(r"^\s*(?P<channel>[^:\s]+::)?(?P<name>[A-Za-z0-9_.-]+?)(?P<rest>\s*[=<>!~ ].*)?$")


@dataclass(frozen=True)
class Requirement:
    """One entry of an install call's `name` list, split so the pin can be replaced."""

    manager: str
    name: str          # canonical name, for matching journal rows
    head: str          # what stays when re-pinning: name, extras, arch or channel as written
    tail: str = ""     # what stays after the pin: a pip environment marker


def canonical_name(manager: str, name: str) -> str:
    if manager == "pip":
        return records.canonical_name(name)  # the form the installer records use
    return name.lower() if manager == "apt" else name


def parse_requirement(manager: str, text: str) -> Requirement | None:
    """Split TEXT; None when it is not a package name sync understands (e.g. a path)."""
    pattern = {"pip": _PIP, "apt": _APT, "conda": _CONDA}[manager]
    match = pattern.match(text)
    if match is None:
        return None
    name = match["name"]
    if manager == "pip":
        head = name + (match["extras"] or "")
        marker = match["marker"]
        tail = f"; {marker[1:].strip()}" if marker else ""
        return Requirement(manager, canonical_name(manager, name), head, tail)
    if manager == "apt":
        return Requirement(manager, canonical_name(manager, name), name + (match["arch"] or ""))
    return Requirement(manager, canonical_name(manager, name), (match["channel"] or "") + name)


def format_requirement(head: str, manager: str, version: str, pin: str, *, url: str | None = None,
                       tail: str = "") -> str:
    """The requirement string for HEAD at VERSION under pin mode PIN."""
    if url is not None and manager == "pip":
        return f"{head} @ {url}{' ' + tail if tail else ''}"
    return head + _pin_suffix(manager, version, pin) + tail


def _pin_suffix(manager: str, version: str, pin: str) -> str:
    if pin == "none" or not version:
        return ""
    if manager == "pip":
        return f"=={version}" if pin == "exact" else f"~={version}"
    if manager == "apt":
        return f"={version}" if pin == "exact" else ""
    # conda: `=1.2` matches 1.2.*; exact uses the full version.
    if pin == "exact":
        return f"={version}"
    major_minor = ".".join(version.split(".")[:2])
    return f"={major_minor}"


def local_paths(requirements_text: str) -> list[str]:
    """The project paths a requirements file installs from (`-e .`, `./pkg`, `../lib`, `file:./x`):
    pip reads them relative to its working directory, which is the project's. Remote URLs,
    names and options are not paths; absolute paths name the machine building, so they are
    left to pip as written."""
    found: list[str] = []
    for raw in requirements_text.splitlines():
        line = re.split(r"(^|\s)#", raw, maxsplit=1)[0].strip()
        for prefix in ("-e ", "--editable ", "--editable="):
            if line.startswith(prefix):
                line = line[len(prefix):].strip()
                break
        else:
            if line.startswith("-"):
                continue
        target = line.split(";", 1)[0].strip()
        if target.startswith("file:") and not target.startswith("file:/"):
            target = target[len("file:"):]
        target = target.split("#", 1)[0].split("[", 1)[0].strip()
        if target in (".", "..") or target.startswith(("./", "../")):
            found.append(target.rstrip("/") or ".")
    return list(dict.fromkeys(found))
