"""Installer records: what apt/dpkg, pip and conda wrote down about installed packages.

One parser shared by the in-container agent, snapshots and diffs. It runs on the
container's own python3, so: standard library only, and Python 3.8 compatible (no
`X | Y` at runtime, no `match`, no dataclass `slots`).

CONTRACT (other modules code against this; the implementation fills the functions):

    Package(manager, name, version, env, requested, arch="", source="", build="")
      manager   "apt" | "pip" | "conda"
      name      apt: package name; pip: PEP 503 canonical name; conda: package name
      env       "/" for apt; the site-packages directory for pip; the conda prefix for conda
      requested apt: not Auto-Installed in extended_states; pip: REQUESTED marker when
                INSTALLER is pip, else derived top-level (uv marks everything REQUESTED);
                conda: named in conda-meta/history specs
      arch      dpkg architecture (apt only)
      source    pip direct_url (URL or VCS ref, credentials redacted) / conda channel
      build     conda build string

    read_apt(root="/") -> list[Package]
    read_pip(root="/", site_dirs=None) -> list[Package]     # finds system, venv, user sites
    read_conda(root="/", prefixes=None) -> list[Package]
    inventory(root="/") -> list[Package]                     # all three, sorted by Package.key
    redact_url(url) -> str, redact_text(command_line) -> str
    changes_between(old, new) -> list[PackageChange]         # install/remove/upgrade/downgrade
    flag_changes(old, new) -> list[PackageChange]            # mark: requested flag flipped
    pip_detail(root, package) -> dict                        # {"editable": True} / {"local": True}

Paths in `env` are as seen inside ROOT (ROOT stripped), so an image unpacked on the host
and the same image running in a container give the same inventory.
"""

from __future__ import annotations

import ast
import glob
import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple
from urllib.parse import urlsplit, urlunsplit


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


@dataclass(frozen=True)
class PackageChange:
    """One slot that changed between two inventories, as the journal records it."""

    manager: str
    env: str
    name: str
    action: str                   # install | remove | upgrade | downgrade | mark (requested flipped)
    old_version: Optional[str]
    new_version: Optional[str]
    requested: bool
    arch: str = ""
    source: str = ""
    build: str = ""


# --------------------------------------------------------------------------- helpers


def _inside(root: str, path: str) -> str:
    """PATH (under ROOT on this machine) as the container sees it."""
    rel = os.path.relpath(path, root)
    return "/" if rel == "." else "/" + rel.replace(os.sep, "/")


def _under(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def _read_text(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


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


# --------------------------------------------------------------------------- apt


# Configured packages; trigger processing does not make a package any less installed.
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
    status = _read_text(_under(root, "/var/lib/dpkg/status"))
    if status is None:
        return []
    auto = _auto_installed(_read_text(_under(root, "/var/lib/apt/extended_states")) or "")
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


# --------------------------------------------------------------------------- pip


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
        found.extend(glob.glob(_under(root, pattern)))
    for venv in _find_venvs(root):
        found.extend(glob.glob(os.path.join(venv, "lib", "python3*", "site-packages")))
    unique = []
    for path in found:
        real = os.path.realpath(path)
        if os.path.isdir(path) and real not in {os.path.realpath(u) for u in unique}:
            unique.append(path)
    return sorted(unique)


def _find_venvs(root: str, depth: int = 3) -> List[str]:
    """Directories holding a pyvenv.cfg, at most DEPTH levels below the usual homes."""
    venvs = []
    for home in _VENV_HOMES:
        start = _under(root, home)
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
# A RECORD with no INSTALLER beside it is a wheel mid-extraction (pip byte-compiles before
# writing INSTALLER) or a Debian package's (dpkg keeps the build's old mtime): only after this
# long is a fresh one taken as an installer that writes no INSTALLER at all.
NO_INSTALLER_GRACE_SECONDS = 300.0


def dist_info_finished(path: str, now: Optional[float] = None) -> bool:
    """Whether the installer is done with the .dist-info directory PATH.

    RECORD alone proves nothing: pip and uv extract the wheel's RECORD among its first files,
    and only after byte-compiling write INSTALLER, then REQUESTED, then the final RECORD.
    A rescan in between would take every dependency for a requested package.
    """
    record = _read_text(os.path.join(path, "RECORD"))
    if record is None:
        return False
    installer = _read_text(os.path.join(path, "INSTALLER"))
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
        meta = _read_text(os.path.join(path, "METADATA"))
        installer = (_read_text(os.path.join(path, "INSTALLER")) or "").strip()
    elif os.path.isdir(path):
        meta = _read_text(os.path.join(path, "PKG-INFO"))
        installer = (_read_text(os.path.join(path, "INSTALLER")) or "").strip()
    else:
        meta, installer = _read_text(path), ""  # a bare .egg-info file is PKG-INFO itself
    if meta is None:
        return None
    fields, requires = _metadata_fields(meta)
    name = fields.get("name") or os.path.basename(path).split("-")[0]
    requested = os.path.exists(os.path.join(path, "REQUESTED"))
    requires_names = tuple(canonical_name(m.group(1)) for m in map(_REQ_NAME.match, requires) if m)
    if not requires and os.path.isdir(path):
        requires_names = _egg_requires(path)
    return _Dist(canonical_name(name), fields.get("version", ""), installer, requested,
                 requires_names, _direct_url_source(path), path)


def _egg_requires(path: str) -> Tuple[str, ...]:
    text = _read_text(os.path.join(path, "requires.txt")) or ""
    names = []
    for line in text.splitlines():
        if line.startswith("["):
            break  # extras sections: optional, not dependencies of a plain install
        match = _REQ_NAME.match(line)
        if match:
            names.append(canonical_name(match.group(1)))
    return tuple(names)


def _direct_url(path: str) -> Dict:
    text = _read_text(os.path.join(path, "direct_url.json")) if os.path.isdir(path) else None
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
    env = _inside(root, site_dir)
    packages = []
    for dist in dists.values():
        if dist.installer == "pip":
            requested = dist.requested_marker  # pip writes REQUESTED for what was named only
        elif dist.installer == "uv":
            # uv writes REQUESTED into every dist-info it installs: it says nothing here.
            requested = dist.name not in required_by_others
        else:  # conda, Debian, unknown: top-level packages are the requested ones
            requested = dist.requested_marker or dist.name not in required_by_others
        packages.append(Package("pip", dist.name, dist.version, env, requested, source=dist.source))
    return packages


def read_pip(root: str = "/", site_dirs: Optional[Sequence[str]] = None) -> List[Package]:
    """SITE_DIRS are paths inside ROOT (as the container sees them); default: discovered."""
    dirs = [_under(root, d) for d in site_dirs] if site_dirs is not None else find_site_dirs(root)
    packages: List[Package] = []
    for site_dir in dirs:
        packages.extend(read_site(root, site_dir))
    return packages


def pip_detail(root: str, package: Package) -> Dict[str, object]:
    """Flags from direct_url.json: {"editable": True} and/or {"local": True}."""
    site_dir = _under(root, package.env)
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
        return detail
    return {}


_MASK = "****"


def redact_url(url: str) -> str:
    """Credentials out of a URL: passwords, bare tokens and every query value become ****.

    `git@` stays (an ssh login name). Query values go whatever their name: `?token=`,
    presigned `X-Amz-Signature=`, `sig=` and the like are how indexes and buckets carry
    secrets, and no package URL needs its query to be recorded.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        if has_password:
            userinfo = user + ":" + _MASK
        elif parts.scheme.endswith("ssh") or user == "git":
            userinfo = user  # an ssh login name, not a secret
        else:
            userinfo = _MASK  # a lone user part over http(s) is a token
        netloc = userinfo + "@" + host
    query = "&".join(_redact_query_item(item) for item in parts.query.split("&")) if parts.query else ""
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_query_item(item: str) -> str:
    name, has_value, value = item.partition("=")
    if not has_value:
        return _MASK if name else name  # a bare `?SECRET`
    return name + "=" + (_MASK if value else "")


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_SECRET_NAME = r"[\w:.-]*?(?:passw(?:or)?d|passwd|token|secret|api[-_]?key|auth(?:orization)?|signature|sig)"
# `password=x`, `Authorization: Bearer x`, `-o Acquire::http::Proxy::Password=x`; `--password x`
# (a bare word followed by a space is a package name, never masked).
_SECRET_OPTION = re.compile(
    r"(?i)((?:\b" + _SECRET_NAME + r"\s*[=:]\s*)|(?:(?<!\S)--?" + _SECRET_NAME + r"\s+))"
    r"(?:bearer\s+|basic\s+)?(?!\*\*\*\*)[^\s'\"]+")


def redact_text(text: str) -> str:
    """A command line or log line with every URL redacted and secret-named options masked.

    The one redaction used wherever envtrack records a command line (apt's history
    Commandline with `-o Acquire::http::Proxy=http://user:pass@proxy`) or a source.
    """
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    return _SECRET_OPTION.sub(lambda m: m.group(1) + _MASK, text)


# --------------------------------------------------------------------------- conda

_CONDA_CANDIDATES = (
    "/opt/conda", "/opt/*", "/opt/conda/envs/*", "/opt/*/envs/*",
    "/root/*conda*", "/root/*conda*/envs/*", "/home/*/*conda*", "/home/*/*conda*/envs/*",
    "/usr/local", "/workspace/*",
)


def find_conda_prefixes(root: str = "/") -> List[str]:
    found = set()
    for pattern in _CONDA_CANDIDATES:
        for prefix in glob.glob(_under(root, pattern)):
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


def _channel(record: Dict) -> str:
    channel = record.get("channel") or record.get("schannel") or ""
    return redact_url(str(channel))


def read_conda_prefix(root: str, prefix: str) -> List[Package]:
    meta = os.path.join(prefix, "conda-meta")
    requested = conda_requested_names(_read_text(os.path.join(meta, "history")) or "")
    env = _inside(root, prefix)
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
        is_requested = name in requested or bool(record.get("requested_spec"))
        packages.append(Package("conda", name, str(record.get("version", "")), env, is_requested,
                                source=_channel(record),
                                build=str(record.get("build") or record.get("build_string") or "")))
    return packages


def read_conda(root: str = "/", prefixes: Optional[Sequence[str]] = None) -> List[Package]:
    found = [_under(root, p) for p in prefixes] if prefixes is not None else find_conda_prefixes(root)
    packages: List[Package] = []
    for prefix in found:
        packages.extend(read_conda_prefix(root, prefix))
    return packages


def inventory(root: str = "/") -> List[Package]:
    return sorted(read_apt(root) + read_pip(root) + read_conda(root), key=lambda p: p.key)


# --------------------------------------------------------------------------- versions


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


def changes_between(old: Iterable[Package], new: Iterable[Package]) -> List[PackageChange]:
    """What happened between two inventories, as installs, removals, upgrades, downgrades.

    A slot whose version is unchanged is no change (a flipped requested flag or a rebuilt
    conda build alone is not an install). Sorted by (manager, env, name).
    """
    before = {p.key: p for p in old}
    after = {p.key: p for p in new}
    changes = []
    for key in sorted(set(before) | set(after)):
        was, now = before.get(key), after.get(key)
        if was is None and now is not None:
            changes.append(_change(now, "install", None, now.version))
        elif now is None and was is not None:
            changes.append(_change(was, "remove", was.version, None))
        elif was is not None and now is not None:
            order = compare_versions(now.manager, was.version, now.version)
            if order < 0:
                changes.append(_change(now, "upgrade", was.version, now.version))
            elif order > 0:
                changes.append(_change(now, "downgrade", was.version, now.version))
            elif was.build != now.build or was.source != now.source:
                changes.append(_change(now, "upgrade", was.version, now.version))  # reinstalled from elsewhere
    return changes


def flag_changes(old: Iterable[Package], new: Iterable[Package]) -> List[PackageChange]:
    """Slots whose version stayed but whose requested flag flipped: one `mark` change each.

    An installer's final records can disagree with an earlier read of them (pip writes
    REQUESTED after byte-compiling; `apt-mark manual`), and sync must see the final truth.
    """
    before = {p.key: p for p in old}
    changes = []
    for now in sorted(new, key=lambda p: p.key):
        was = before.get(now.key)
        if was is not None and was.version == now.version and was.requested != now.requested:
            changes.append(_change(now, "mark", now.version, now.version))
    return changes


def _change(package: Package, action: str, old: Optional[str], new: Optional[str]) -> PackageChange:
    return PackageChange(package.manager, package.env, package.name, action, old, new,
                         package.requested, package.arch, package.source, package.build)


# --------------------------------------------------------------------------- script


def main(argv: Optional[Sequence[str]] = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Print the installed-package inventory as JSON.")
    parser.add_argument("--root", default="/", help="filesystem root to read (default: /)")
    args = parser.parse_args(argv)
    json.dump([asdict(p) for p in inventory(args.root)], sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
