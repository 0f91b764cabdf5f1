"""Installer records: what apt/dpkg, pip and conda wrote down about installed packages.

One parser shared by the in-container agent, snapshots and diffs. It runs on the
container's own python3, so: standard library only, and Python 3.9 compatible (no
`X | Y` at runtime, no `match`, no dataclass `slots`).

CONTRACT (other modules code against this; the implementation fills the functions):

    Package(manager, name, version, env, requested, arch="", source="", build="")
      manager   "apt" | "pip" | "conda"
      name      apt: package name; pip: PEP 503 canonical name; conda: package name
      env       "/" for apt; the site-packages directory for pip; the conda prefix for conda
      requested apt: not Auto-Installed in extended_states; pip: REQUESTED marker when
                INSTALLER is pip, else derived top-level; conda: named in conda-meta/history specs
      arch      dpkg architecture (apt only)
      source    pip direct_url (URL or VCS ref, credentials redacted) / conda channel
      build     conda build string

    read_apt(root="/") -> list[Package]
    read_pip(root="/", site_dirs=None) -> list[Package]     # finds system, venv, user sites
    read_conda(root="/", prefixes=None) -> list[Package]
    inventory(root="/") -> list[Package]                     # all three, sorted by Package.key
    redact_url(url) -> str
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple


@dataclass(frozen=True)
class Package:
    manager: str
    name: str
    version: str
    env: str
    requested: bool
    arch: str = ""
    source: str = ""
    build: str = ""

    @property
    def key(self) -> Tuple[str, str, str]:
        """Identity of a package slot: one version per (manager, env, name)."""
        return (self.manager, self.env, self.name)
