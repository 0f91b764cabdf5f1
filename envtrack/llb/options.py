"""BuildOptions: what a build reads from the host besides the envd files.

The one place that decides which host CA bundle, proxy variables and download mirrors a
build uses, and for which architecture its toolchains are downloaded.
The compiler lowers them into the graph and the build stamp fingerprints the very same
object, so a cached answer can never be based on inputs the compiler did not see.
Light on purpose: the cached-build path imports it before anything heavy.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from envtrack.hostca import host_ca_path
from envtrack.errors import EnvtrackError
from envtrack.mirrors import MirrorError, MirrorTable, load as load_mirrors

PROXY_NAMES = frozenset({"http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy"})
# `uname -m` (and the Engine's `docker info` Architecture) -> the OCI/Go name lowering uses.
ARCH_NAMES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
DEFAULT_ARCH = "amd64"
CONDA_ENV_VAR = "ENVTRACK_CONDA"
CONDA_INSTALLERS, CONDA_RATTLER = "installer", "rattler"   # its values


def oci_arch(machine: str) -> str:
    """`x86_64` -> `amd64`; a name envtrack does not know passes through (lowering rejects it)."""
    return ARCH_NAMES.get(machine.lower(), machine.lower())


@dataclass(frozen=True)
class BuildOptions:
    ca_bundle: bytes | None = None          # host CA bundle mounted into fetching steps
    proxy_env: dict[str, str] = field(default_factory=dict)  # HTTP(S)_PROXY etc.; outside cache keys
    bake_ca: bool = False                   # also install the bundle into the image
    # The BuildKit has MergeOp/DiffOp (asked only for plans with states, see build.service).
    # Not in the fingerprint: it follows the Engine, and a stamp holds only while its image
    # is in the Engine being asked.
    merge_op: bool = False
    # The host user's uid and gid: a dev environment's user gets them (envd's rule; config.owner wins).
    owner: tuple[int, int] = (0, 0)
    mirrors: MirrorTable = field(default_factory=MirrorTable)   # upstream URL prefix -> mirror
    # The Engine's architecture, which toolchain downloads are for. Not in the fingerprint,
    # for merge_op's reason; the download URLs it picks are in the graph's digest anyway.
    arch: str = DEFAULT_ARCH
    # Image references built from a digest instead of their tag (`up --locked`): (ref, repo@digest).
    image_pins: tuple[tuple[str, str], ...] = ()
    # What install.conda installs: envd's installers (Miniconda, micromamba) or, chosen with
    # ENVTRACK_CONDA=rattler, envtrack's conda-compatible command on py-rattler from the
    # Python package index, for machines no conda installer download reaches.
    conda_tool: str = CONDA_INSTALLERS

    def fingerprint(self) -> dict:
        """JSON-shaped digest of every field, for the build stamp."""
        ca = hashlib.sha256(self.ca_bundle).hexdigest() if self.ca_bundle is not None else None
        found = {"bake_ca": self.bake_ca, "ca_bundle": ca, "owner": list(self.owner),
                 "proxies": sorted([k, v] for k, v in self.proxy_env.items()),
                 "mirrors": [list(pair) for pair in self.mirrors.pairs], "conda_tool": self.conda_tool}
        return {**found, "image_pins": [list(pin) for pin in self.image_pins]} if self.image_pins else found


def default_build_options(*, bake_ca: bool = False, environ: dict[str, str] | None = None) -> BuildOptions:
    """Options from the host: its CA bundle if present, proxy variables, the mirror table
    (envtrack.mirrors.load) and the host's architecture, which the build replaces with the
    Engine's (I/O, for callers). A mirror setting that cannot be read is bad input (exit 2)."""
    environ = dict(os.environ if environ is None else environ)
    bundle = Path(host_ca_path(environ))
    proxies = {k: v for k, v in environ.items() if k.lower() in PROXY_NAMES and v}
    return BuildOptions(ca_bundle=bundle.read_bytes() if bundle.is_file() else None,
                        proxy_env=proxies, bake_ca=bake_ca, owner=(os.getuid(), os.getgid()), mirrors=read_mirrors(environ),
                        arch=oci_arch(os.uname().machine), conda_tool=conda_tool(environ))


def conda_tool(environ: dict[str, str]) -> str:
    value = environ.get(CONDA_ENV_VAR, "").strip() or CONDA_INSTALLERS
    if value not in (CONDA_INSTALLERS, CONDA_RATTLER):
        raise EnvtrackError(f"{CONDA_ENV_VAR}={value!r}: expected {CONDA_INSTALLERS!r} (envd's Miniconda or "
                            f"micromamba, the default) or {CONDA_RATTLER!r}", exit_code=2)
    return value


def read_mirrors(environ: dict[str, str] | None = None) -> MirrorTable:
    try:
        return load_mirrors(environ)
    except MirrorError as error:
        raise EnvtrackError(str(error), exit_code=2) from None
