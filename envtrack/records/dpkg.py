"""dpkg and apt: /var/lib/dpkg/status and apt's extended_states (Auto-Installed)."""

from __future__ import annotations

from typing import Dict, Iterable, List, Set, Tuple

from envtrack.records.files import read_text, under
from envtrack.records.package import Package


def _paragraphs(text: str) -> Iterable[Dict[str, str]]:
    """RFC 822-style stanzas (dpkg status, extended_states); continuation lines dropped."""
    fields: Dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields = {}
        elif line[0] in " \t":
            continue
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
    if fields:
        yield fields


_DPKG_INSTALLED = ("installed", "triggers-pending", "triggers-awaited")
# An interrupted unpack or configure (a killed `apt-get install --reinstall`, then the
# `dpkg --configure -a` apt asks for) leaves these: the package is still wanted and its files
# are (being) put back, so it stays installed at its version; it is no removal.
_DPKG_INTERRUPTED = ("half-configured", "unpacked", "half-installed")
_DPKG_WANTED = ("install", "hold")


def dpkg_installed(status: str) -> bool:
    """Whether a dpkg `Status:` value (want, flag, state) means the package is installed."""
    words = status.split()
    if len(words) != 3:
        return False
    want, _flag, state = words
    return state in _DPKG_INSTALLED or (state in _DPKG_INTERRUPTED and want in _DPKG_WANTED)


def read_apt(root: str = "/") -> List[Package]:
    status = read_text(under(root, "/var/lib/dpkg/status"))
    if status is None:
        return []
    auto = _auto_installed(read_text(under(root, "/var/lib/apt/extended_states")) or "")
    installed = []
    for fields in _paragraphs(status):
        if not dpkg_installed(fields.get("status", "")) or "package" not in fields:
            continue
        name, arch = fields["package"], fields.get("architecture", "")
        is_auto = (name, arch) in auto or (name, "") in auto
        installed.append(Package("apt", name, fields.get("version", ""), "/", not is_auto, arch=arch))
    return _qualify_foreign(installed)


def _auto_installed(text: str) -> Set[Tuple[str, str]]:
    return {
        (fields.get("package", ""), fields.get("architecture", ""))
        for fields in _paragraphs(text)
        if fields.get("auto-installed") == "1"
    }


def _qualify_foreign(packages: List[Package]) -> List[Package]:
    """Multi-arch co-installs share a name: the foreign-arch copies become `name:arch`."""
    names: Dict[str, int] = {}
    arches: Dict[str, int] = {}
    for package in packages:
        names[package.name] = names.get(package.name, 0) + 1
        arches[package.arch] = arches.get(package.arch, 0) + 1
    native = max((a for a in arches if a != "all"), key=lambda a: arches[a], default="")
    result = []
    for package in packages:
        if names[package.name] > 1 and package.arch not in (native, "all"):
            package = Package("apt", package.name + ":" + package.arch, package.version, "/",
                              package.requested, arch=package.arch)
        result.append(package)
    return result
