"""Installer records: what apt/dpkg, pip and conda wrote down about installed packages.

One parser shared by the in-container agent, snapshots and diffs. It runs on the
container's own python3, so: standard library only, and Python 3.8 compatible (no
`X | Y` at runtime, no `match`, no dataclass `slots`). It ships with the agent
(`envtrack.agent.SHIPPED`); snapshot runs `__main__` inside containers from source
(envtrack/snapshot/sources.py, `records_command`).

One file per installer's records, and what is shared between them:

    package.py     Package(manager, name, version, env, requested, arch="", source="", build="")
    dpkg.py        read_apt(root="/")  -- dpkg status + apt extended_states
    dist_info.py   read_pip(root="/", site_dirs=None), pip_detail(root, package)
    conda_meta.py  read_conda(root="/", prefixes=None)
    redact.py      redact_url(url), redact_text(command_line)
    versions.py    compare_dpkg, compare_pep440, compare_versions
    changes.py     PackageChange, changes_between(old, new), flag_changes(old, new)
    files.py       ROOT-relative paths and tolerant reads
    __main__.py    the inventory as JSON

Package fields:
      manager   "apt" | "pip" | "conda"
      name      apt: package name; pip: PEP 503 canonical name; conda: package name
      env       "/" for apt; the site-packages directory for pip; the conda prefix for conda
      requested apt: not Auto-Installed in extended_states; pip: REQUESTED marker when
                INSTALLER is pip, else derived top-level (uv marks everything REQUESTED);
                conda: named in conda-meta/history specs
      arch      dpkg architecture (apt only)
      source    pip direct_url (URL or VCS ref, credentials redacted) / conda channel
      build     conda build string

Paths in `env` are as seen inside ROOT (ROOT stripped), so an image unpacked on the host
and the same image running in a container give the same inventory.
"""

from __future__ import annotations

from typing import List

from envtrack.records.changes import PackageChange, changes_between, flag_changes
from envtrack.records.conda_meta import conda_requested_names, find_conda_prefixes, read_conda, read_conda_prefix
from envtrack.records.dist_info import (NO_INSTALLER_GRACE_SECONDS, canonical_name, dist_info_finished,
                                        find_site_dirs, in_dpkg_site, incomplete_dist_infos, pip_detail, pipx_app,
                                        pipx_venvs, read_pip, read_site, venv_detail)
from envtrack.records.dpkg import dpkg_installed, read_apt
from envtrack.records.package import Package
from envtrack.records.redact import redact_text, redact_url
from envtrack.records.versions import compare_dpkg, compare_pep440, compare_versions

__all__ = [
    "NO_INSTALLER_GRACE_SECONDS", "Package", "PackageChange", "canonical_name", "changes_between",
    "compare_dpkg", "compare_pep440", "compare_versions", "conda_requested_names", "dist_info_finished",
    "dpkg_installed", "find_conda_prefixes", "find_site_dirs", "flag_changes", "in_dpkg_site", "incomplete_dist_infos",
    "inventory", "pip_detail", "pipx_app", "pipx_venvs", "read_apt", "read_conda", "read_conda_prefix", "read_pip", "read_site",
    "redact_text", "redact_url", "venv_detail",
]


def inventory(root: str = "/") -> List[Package]:
    """Every package of all three installers under ROOT, sorted by Package.key."""
    return sorted(read_apt(root) + read_pip(root) + read_conda(root), key=lambda p: p.key)
