"""Python packages: .dist-info/.egg-info records of pip, uv and others, in system, user and venv sites."""

from __future__ import annotations

import glob
import json
import os
import re
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from envtrack.records.files import inside, read_text, under
from envtrack.records.package import Package
from envtrack.records.redact import redact_url


def canonical_name(name: str) -> str:
    """PEP 503 normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


_VENV_HOMES = ("/opt", "/root", "/home", "/workspace", "/srv", "/venv", "/env")


def find_site_dirs(root: str = "/") -> List[str]:
    """site-packages/dist-packages directories: system, user sites, and venvs (pyvenv.cfg)."""
    patterns = [
        "/usr/lib/python3/dist-packages",
        "/usr/lib/python3*/site-packages",
        "/usr/lib/python3*/dist-packages",
        "/usr/local/lib/python3*/dist-packages",
        "/usr/local/lib/python3*/site-packages",
        "/root/.local/lib/python3*/site-packages",
        "/home/*/.local/lib/python3*/site-packages",
    ]
    found = []
    for pattern in patterns:
        found.extend(glob.glob(under(root, pattern)))
    for venv in _find_venvs(root) + pipx_venvs(root):
        found.extend(glob.glob(os.path.join(venv, "lib", "python3*", "site-packages")))
    unique = []
    for path in found:
        real = os.path.realpath(path)
        if os.path.isdir(path) and real not in {os.path.realpath(u) for u in unique}:
            unique.append(path)
    return sorted(unique)


# pipx keeps one venv per app in PIPX_HOME/venvs: ~/.local/share/pipx (pipx >= 1.2), ~/.local/pipx
# (older ones), /opt/pipx (`pipx install --global`, or PIPX_HOME=/opt/pipx); deeper than the venv search.
PIPX_HOMES = ("/root/.local/share/pipx", "/home/*/.local/share/pipx", "/root/.local/pipx", "/home/*/.local/pipx",
              "/opt/pipx")


def pipx_venvs(root: str = "/") -> List[str]:
    """Every pipx app's venv (PIPX_HOME/venvs/APP holding a pyvenv.cfg)."""
    return sorted(v for home in PIPX_HOMES for v in glob.glob(under(root, home + "/venvs/*"))
                  if os.path.isfile(os.path.join(v, "pyvenv.cfg")))


def pipx_app(env: str) -> str:
    """The pipx app whose venv holds site directory ENV (`cowsay`), "" for any other environment."""
    match = re.match(r"^(?:/root|/home/[^/]+)/\.local(?:/share)?/pipx/venvs/([^/]+)/|^/opt/pipx/venvs/([^/]+)/", env)
    return (match.group(1) or match.group(2)) if match else ""


def _find_venvs(root: str, depth: int = 3) -> List[str]:
    """Directories holding a pyvenv.cfg, at most DEPTH levels below the usual homes."""
    venvs = []
    for home in _VENV_HOMES:
        start = under(root, home)
        if not os.path.isdir(start) or os.path.islink(start):
            continue
        base_depth = start.rstrip(os.sep).count(os.sep)
        for current, dirs, files in os.walk(start):
            if "pyvenv.cfg" in files:
                venvs.append(current)
                dirs[:] = []
                continue
            if current.count(os.sep) - base_depth >= depth:
                dirs[:] = []
            else:
                # Caches and package trees are large and never hold a venv.
                dirs[:] = [d for d in dirs if d not in ("node_modules", ".cache", ".git", "site-packages",
                                                        "dist-packages", "__pycache__", "conda-meta", "pkgs")]
    return venvs


def _metadata_fields(text: str) -> Tuple[Dict[str, str], List[str]]:
    """Name/Version and every Requires-Dist from METADATA or PKG-INFO (headers only)."""
    fields: Dict[str, str] = {}
    requires: List[str] = []
    for line in text.splitlines():
        if not line.strip():
            break  # the body (long description) starts here
        if line[0] in " \t" or ":" not in line:
            continue
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "requires-dist":
            requires.append(value.strip())
        elif key not in fields:
            fields[key] = value.strip()
    return fields, requires


_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
# `Requires-Dist: tomli-w>=1; extra == "testing"`: needed only when the extra was asked for,
# which no record says; counting it would make setuptools' test extra turn every tomli-w a
# user installs with uv into a dependency. An unknown extra errs toward "requested".
_EXTRA_MARKER = re.compile(r";.*\bextra\s*==")


@dataclass(frozen=True)
class _Dist:
    name: str
    version: str
    installer: str
    requested_marker: bool
    requires: Tuple[str, ...]
    source: str
    path: str


# Installers that extract the wheel's own RECORD first and, once done, rewrite it listing the
# INSTALLER (and REQUESTED) they wrote after it (pip's _install_wheel; uv does the same).
_RECORD_REWRITERS = ("pip", "uv")
_NO_INSTALLER = "<none>"
_DPKG_SITES = "/usr/lib/python3"   # Debian's packages' own site (pip installs elsewhere): their RECORD is whole
# A RECORD with no INSTALLER beside it is a wheel mid-extraction (pip byte-compiles before
# writing INSTALLER) or a Debian package's (dpkg keeps the build's old mtime): only after this
# long is a fresh one taken as an installer that writes no INSTALLER at all.
NO_INSTALLER_GRACE_SECONDS = 300.0


def in_dpkg_site(env: str) -> bool:
    """Whether ENV is Debian's own site (/usr/lib/python3/dist-packages, /usr/lib/python3.X/...),
    which only dpkg fills: a package there came with an apt package, never from pip."""
    return env.startswith(_DPKG_SITES)


def dist_info_finished(path: str, now: Optional[float] = None) -> bool:
    """Whether the installer is done with the .dist-info directory PATH.

    RECORD alone proves nothing: pip and uv extract the wheel's RECORD among its first files,
    and only after byte-compiling write INSTALLER, then REQUESTED, then the final RECORD.
    A rescan in between would take every dependency for a requested package.
    """
    record = read_text(os.path.join(path, "RECORD"))
    if record is None:
        return False
    installer = read_text(os.path.join(path, "INSTALLER"))
    if installer is None:
        try:
            age = (time.time() if now is None else now) - os.stat(os.path.join(path, "RECORD")).st_mtime
        except OSError:
            return False
        return age > NO_INSTALLER_GRACE_SECONDS
    if installer.strip() in _RECORD_REWRITERS:
        return os.path.basename(path.rstrip("/")) + "/INSTALLER," in record
    return True  # conda and others write their records whole


def _read_dist(path: str) -> Optional[_Dist]:
    if path.endswith(".dist-info"):
        if not dist_info_finished(path):
            return None  # an installer is still writing it; its completion wakes the agent
        meta = read_text(os.path.join(path, "METADATA"))
        found = read_text(os.path.join(path, "INSTALLER"))
        # Past the grace period with no INSTALLER: an installer that writes none, or (far more
        # often) a pip or uv run cut short by a crash after extracting the wheel.
        installer = _NO_INSTALLER if found is None else found.strip()
    elif os.path.isdir(path):
        meta = read_text(os.path.join(path, "PKG-INFO"))
        installer = (read_text(os.path.join(path, "INSTALLER")) or "").strip()
    else:
        meta, installer = read_text(path), ""  # a bare .egg-info file is PKG-INFO itself
    if meta is None:
        return None
    fields, requires = _metadata_fields(meta)
    name = fields.get("name") or os.path.basename(path).split("-")[0]
    requested = os.path.exists(os.path.join(path, "REQUESTED"))
    requires_names = tuple(canonical_name(m.group(1)) for m in map(_REQ_NAME.match, requires)
                           if m and not _EXTRA_MARKER.search(m.string))
    if not requires and os.path.isdir(path):
        requires_names = _egg_requires(path)
    return _Dist(canonical_name(name), fields.get("version", ""), installer, requested,
                 requires_names, _direct_url_source(path), path)


def _egg_requires(path: str) -> Tuple[str, ...]:
    text = read_text(os.path.join(path, "requires.txt")) or ""
    names = []
    for line in text.splitlines():
        if line.startswith("["):
            break  # extras sections: optional, not dependencies of a plain install
        match = _REQ_NAME.match(line)
        if match:
            names.append(canonical_name(match.group(1)))
    return tuple(names)


def _direct_url(path: str) -> Dict:
    text = read_text(os.path.join(path, "direct_url.json")) if os.path.isdir(path) else None
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _direct_url_source(path: str) -> str:
    data = _direct_url(path)
    url = data.get("url")
    if not isinstance(url, str):
        return ""
    url = redact_url(url)
    vcs = data.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs"):
        ref = vcs.get("commit_id") or vcs.get("requested_revision") or ""
        return "%s+%s%s" % (vcs["vcs"], url, "@" + ref if ref else "")
    return url


def incomplete_dist_infos(site_dir: str) -> List[str]:
    """.dist-info directories of SITE_DIR that an installer is still writing."""
    return [e for e in _dist_entries(site_dir)
            if e.endswith(".dist-info") and os.path.isdir(e) and not dist_info_finished(e)]


def _dist_entries(site_dir: str) -> List[str]:
    try:
        names = os.listdir(site_dir)
    except OSError:
        return []
    return [os.path.join(site_dir, n) for n in sorted(names) if n.endswith((".dist-info", ".egg-info"))]


def read_site(root: str, site_dir: str) -> List[Package]:
    """Packages of one site directory (SITE_DIR is a path on this machine, under ROOT)."""
    dists: Dict[str, _Dist] = {}
    for entry in _dist_entries(site_dir):
        dist = _read_dist(entry)
        # A dist-info wins over a stale egg-info of the same project.
        if dist is not None and (dist.name not in dists or entry.endswith(".dist-info")):
            dists[dist.name] = dist
    required_by_others = {req for d in dists.values() for req in d.requires if req != d.name}
    env = inside(root, site_dir)
    packages = []
    for dist in dists.values():
        if dist.installer == "pip":
            requested = dist.requested_marker  # pip writes REQUESTED for what was named only
        elif dist.installer == "uv":
            # uv writes REQUESTED into every dist-info it installs: it says nothing here.
            requested = dist.name not in required_by_others
        elif dist.installer == _NO_INSTALLER and not in_dpkg_site(env):
            # Cut short: whatever wanted it may never have been installed, so being top-level
            # proves nothing; only a REQUESTED marker (written after INSTALLER) would.
            requested = dist.requested_marker
        else:  # conda, Debian, unknown: top-level packages are the requested ones
            requested = dist.requested_marker or dist.name not in required_by_others
        packages.append(Package("pip", dist.name, dist.version, env, requested, source=dist.source))
    return packages


def read_pip(root: str = "/", site_dirs: Optional[Sequence[str]] = None) -> List[Package]:
    """SITE_DIRS are paths inside ROOT (as the container sees them); default: discovered."""
    dirs = [under(root, d) for d in site_dirs] if site_dirs is not None else find_site_dirs(root)
    packages: List[Package] = []
    for site_dir in dirs:
        packages.extend(read_site(root, site_dir))
    return packages


def pip_detail(root: str, package: Package) -> Dict[str, object]:
    """Flags from direct_url.json: {"editable": True}, {"local": True}, {"hash": "sha256=..."}."""
    site_dir = under(root, package.env)
    for entry in _dist_entries(site_dir):
        dist = _read_dist(entry)
        if dist is None or dist.name != package.name:
            continue
        data = _direct_url(entry)
        detail: Dict[str, object] = {}
        dir_info = data.get("dir_info")
        if isinstance(dir_info, dict) and dir_info.get("editable"):
            detail["editable"] = True
        if str(data.get("url", "")).startswith("file:"):
            detail["local"] = True
        archive = data.get("archive_info")
        hashes = archive.get("hashes") if isinstance(archive, dict) else None
        if isinstance(hashes, dict) and isinstance(hashes.get("sha256"), str):
            detail["hash"] = "sha256=" + hashes["sha256"]
        elif isinstance(archive, dict) and isinstance(archive.get("hash"), str):
            detail["hash"] = archive["hash"]   # PEP 610's older single `hash`
        return detail
    return {}


def venv_detail(root: str, site_env: str) -> Dict[str, object]:
    """How the venv holding site directory SITE_ENV (`/opt/v2/lib/python3.11/site-packages`) was made,
    from its pyvenv.cfg: {"python": the interpreter it was created from, "system_site": True when it
    sees the system's packages}; {} for a site directory of no venv."""
    match = re.match(r"^(/.+?)/lib/python3[^/]*/site-packages$", site_env)
    config = read_text(under(root, match.group(1) + "/pyvenv.cfg")) if match else None
    if config is None:
        return {}
    keys: Dict[str, str] = {}
    for line in config.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            keys[key.strip().lower()] = value.strip()
    python = keys.get("executable", "")
    version = re.match(r"^(\d+\.\d+)", keys.get("version_info") or keys.get("version") or "")
    if not python.startswith("/") and keys.get("home", "").startswith("/") and version:
        python = keys["home"].rstrip("/") + "/python" + version.group(1)
    detail: Dict[str, object] = {"python": python} if python.startswith("/") else {}
    if keys.get("include-system-site-packages", "").lower() == "true":
        detail["system_site"] = True
    return detail
