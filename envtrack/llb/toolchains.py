"""The envd builtins that download a toolchain, lowered as envd's pkg/lang/ir/v1 does them.

Each downloads what envd downloads, for the version asked (envd's default otherwise) and
the Engine's architecture (`Context.arch`), and installs it where envd puts it with
envd's PATH and environment. Archives come through BuildKit's HTTP source
(`Context.download`: the mirror table applied, content-addressed, cached across builds,
a checksum verified where envd has one) and are unpacked by a step that mounts them, so
the archive itself is no layer. Installers that fetch more themselves (rustup, uv, apt,
R, Julia's Pkg) get the mirrored base URL (`Context.installer_url`) in their own setting.

When a fetch made inside a step fails, the step prints one `envtrack: KIND: ...` line
naming the URL and the ENVTRACK_MIRRORS setting (envtrack.solve.service shows that line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from shlex import quote

from envtrack.errors import LocatedError
from envtrack.frontend.steps import Step
from envtrack.llb import scripts
from envtrack.llb.context import Context, apt_mounts, fetch_step
from envtrack.state import Mkdir, Mkfile, Mount, State

FETCHED = "/tmp/envtrack-download"   # where a step sees the archive BuildKit fetched

# envd's defaults (pkg/lang/ir/v1: golang.go, nodejs.go, pixi.go, agent.go, uv.go, julia.sh)
GO_VERSION = "1.25.3"
NODE_VERSION = "25.1.0"
PIXI_VERSION = "0.62.2"
CODEX_VERSION = "rust-v0.98.0"   # envd's default; a build without a version asks for the newest (NEWEST_ASKS)
UV_VERSION = "0.9.22"

GO_URL = "https://go.dev/dl/go{version}.linux-{arch}.tar.gz"
NODE_URL = "https://nodejs.org/download/release/v{version}/node-v{version}-linux-{arch}.tar.xz"
PIXI_URL = "https://github.com/prefix-dev/pixi/releases/download/v{version}/pixi-{arch}-unknown-linux-musl.tar.gz"
CODEX_URL = "https://github.com/openai/codex/releases/download/{version}/codex-{arch}-unknown-linux-musl.tar.gz"
UV_URL = "https://github.com/astral-sh/uv/releases/download/{version}/uv-{arch}-unknown-linux-gnu.tar.gz"
RUSTUP_INIT_URL = "https://sh.rustup.rs"
RUST_DIST_SERVER = "https://static.rust-lang.org"           # rustup's RUSTUP_DIST_SERVER default
RUSTUP_UPDATE_ROOT = "https://static.rust-lang.org/rustup"  # rustup's RUSTUP_UPDATE_ROOT default
UV_PYTHON_DOWNLOADS = "https://github.com/astral-sh/python-build-standalone/releases/download"

# Julia: envd pins one release with its checksums (julia.sh).
JULIA_RELEASES = {
    "amd64": ("https://julialang-s3.julialang.org/bin/linux/x64/1.10/julia-1.10.10-linux-x86_64.tar.gz",
              "sha256:6a78a03a71c7ab792e8673dc5cedb918e037f081ceb58b50971dfb7c64c5bf81"),
    "arm64": ("https://julialang-s3.julialang.org/bin/linux/aarch64/1.10/julia-1.10.10-linux-aarch64.tar.gz",
              "sha256:a4b157ed68da10471ea86acc05a0ab61c1a6931ee592a9b236be227d72da50ff"),
}

# Where envd installs each (and the directory it adds to PATH).
GO_ROOT = "/usr/local/go"
NODE_HOME = "/opt/nodejs"
CARGO_HOME = "/opt/rust"
JULIA_ROOT = "/opt/julia"

# Each upstream's spelling of the Engine's architecture.
UNAME = {"amd64": "x86_64", "arm64": "aarch64"}
NODE_ARCH = {"amd64": "x64", "arm64": "arm64"}
GO_ARCH = {"amd64": "amd64", "arm64": "arm64"}

_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def version_of(step: Step, default: str) -> str:
    version = str(step.args.get("version") or default).strip()
    if not _VERSION.fullmatch(version):
        raise LocatedError(step.position, f"{step.kind}: version {version!r} is not a release name")
    return version


def arch_name(ctx: Context, step: Step, names: dict):
    if ctx.arch not in names:
        raise LocatedError(step.position, f"{step.kind}: envd has no download for the Engine's architecture "
                                          f"{ctx.arch} (it has {', '.join(sorted(names))})")
    return names[ctx.arch]


def append_path(ctx: Context, directory: str) -> None:
    """envd's RuntimeEnvPaths: the tool's bin directory after the image's PATH (later steps see it too)."""
    path = ctx.state.get_env("PATH") or ""
    if directory not in path.split(":"):
        ctx.state = ctx.state.add_env("PATH", f"{path}:{directory}".strip(":"))


def unpack(ctx: Context, step: Step, source: State, script: str, *, needs: tuple[tuple[str, str], ...] = (),
           apt: bool = False) -> None:
    """Run SCRIPT with the fetched file under FETCHED. NEEDS: (command, apt package) pairs the
    script uses, installed from the image's apt sources when the image lacks the command;
    APT: the script runs apt itself (apt's cache mounts)."""
    lines = [f"if ! command -v {quote(command)} >/dev/null 2>&1; then (\n"
             f"{scripts.apt_install([package], ca=ctx.ca is not None)}\n) fi" for command, package in needs]
    mounts = (Mount.bind(FETCHED, source.output, readonly=True),) + (apt_mounts(ctx) if needs or apt else ())
    ctx.state = fetch_step(ctx, "\n".join([*lines, "set -e", script]), step=step, mounts=mounts)


def fail_line(step: Step, what: str, hint: str) -> str:
    """A shell command printing the one line service.step_failure shows, then failing."""
    return f"{{ echo {quote(f'envtrack: {step.kind}: {what}; {hint}')} >&2; exit 1; }}"


# --- the builtins --------------------------------------------------------------------

def lower_go(ctx: Context, step: Step, index: int) -> None:
    """envd: go.dev/dl/go<version>.linux-<arch>.tar.gz unpacked into /usr/local (golang.go)."""
    url = GO_URL.format(version=version_of(step, GO_VERSION), arch=arch_name(ctx, step, GO_ARCH))
    source = ctx.download(step, url, filename="go.tar.gz")
    unpack(ctx, step, source, f"rm -rf {GO_ROOT} && tar -C /usr/local -xzf {FETCHED}/go.tar.gz")
    append_path(ctx, f"{GO_ROOT}/bin")


def lower_nodejs(ctx: Context, step: Step, index: int) -> None:
    """envd: nodejs.org's linux tar.xz for the version, its contents as /opt/nodejs (nodejs.go)."""
    version = version_of(step, NODE_VERSION).removeprefix("v")
    url = NODE_URL.format(version=version, arch=arch_name(ctx, step, NODE_ARCH))
    source = ctx.download(step, url, filename="node.tar.xz")
    unpack(ctx, step, source, f"mkdir -p {NODE_HOME} && tar -xJ --strip-components=1 -C {NODE_HOME} "
                              f"-f {FETCHED}/node.tar.xz", needs=(("xz", "xz-utils"),))
    append_path(ctx, f"{NODE_HOME}/bin")


def lower_pixi(ctx: Context, step: Step, index: int) -> None:
    """envd: pixi's musl release binary as /usr/bin/pixi, and /etc/pixi/config.toml for the
    mirror and PyPI index options (pixi.go)."""
    url = PIXI_URL.format(version=PIXI_VERSION, arch=arch_name(ctx, step, UNAME))
    source = ctx.download(step, url, filename="pixi.tar.gz")
    unpack(ctx, step, source, f"tar -xzf {FETCHED}/pixi.tar.gz -C /usr/bin pixi && chmod 755 /usr/bin/pixi")
    config = pixi_config(step.args["use_pixi_mirror"], step.args["pypi_index"])
    if config:
        ctx.state = ctx.state.file(Mkdir("/etc/pixi", mode=0o777), Mkfile("/etc/pixi/config.toml", config.encode(),
                                   mode=0o755), name=f"{step.label}: config", position=step.position)


def pixi_config(use_mirror: bool, pypi_index: str | None) -> str:
    """envd's pixiConfigTemplate, filled."""
    parts = []
    if use_mirror:
        parts.append('[mirrors]\n"https://conda.anaconda.org" = ["https://prefix.dev/"]\n'
                     '"https://conda.anaconda.org/conda-forge/label" = [\n'
                     '  "https://conda.anaconda.org/conda-forge/label",\n]\n')
    if pypi_index:
        parts.append(f'[pypi-config]\nindex-url = "{pypi_index}"\n')
    return "".join(parts)


def lower_codex(ctx: Context, step: Step, index: int) -> None:
    """envd: codex's musl release binary as /usr/bin/codex (agent.go)."""
    arch = arch_name(ctx, step, UNAME)
    url = CODEX_URL.format(version=version_of(step, CODEX_VERSION), arch=arch)
    source = ctx.download(step, url, filename="codex.tar.gz")
    unpack(ctx, step, source, f"tar -xzf {FETCHED}/codex.tar.gz -C /tmp codex-{arch}-unknown-linux-musl && "
                              f"mv /tmp/codex-{arch}-unknown-linux-musl /usr/bin/codex && chmod 755 /usr/bin/codex")


def lower_julia(ctx: Context, step: Step, index: int) -> None:
    """envd: Julia 1.10.10's linux archive, sha256-checked, unpacked into /opt/julia (julia.go, julia.sh)."""
    url, checksum = arch_name(ctx, step, JULIA_RELEASES)
    source = ctx.download(step, url, checksum=checksum, filename="julia.tar.gz")
    unpack(ctx, step, source, f"mkdir -p {JULIA_ROOT} && tar -xzf {FETCHED}/julia.tar.gz --strip-components=1 "
                              f"-C {JULIA_ROOT}")
    append_path(ctx, f"{JULIA_ROOT}/bin")


def lower_rust(ctx: Context, step: Step, index: int) -> None:
    """envd: sh.rustup.rs run with CARGO_HOME=/opt/rust, `-y -q --no-modify-path`; a version
    is envd's RUSTUP_VERSION (rust.go). rustup fetches itself and the stable toolchain below
    RUSTUP_UPDATE_ROOT and RUSTUP_DIST_SERVER, which the mirror table sets."""
    source = ctx.download(step, RUSTUP_INIT_URL, filename="rustup-init.sh")
    dist = ctx.installer_url(step, RUST_DIST_SERVER)
    update = ctx.installer_url(step, RUSTUP_UPDATE_ROOT)
    env = {"RUSTUP_DIST_SERVER": dist, "RUSTUP_UPDATE_ROOT": update}
    if dist != RUST_DIST_SERVER or update != RUSTUP_UPDATE_ROOT:
        ctx.runtime_env.update(env)   # a later `rustup component add` uses the same mirror
    ctx.state = ctx.state.add_env("CARGO_HOME", CARGO_HOME)
    if step.args.get("version"):
        ctx.state = ctx.state.add_env("RUSTUP_VERSION", version_of(step, ""))
    failed = fail_line(step, f"rustup could not install Rust from {dist}", ctx.mirrors.setting_hint(RUST_DIST_SERVER + "/"))
    script = (f"mkdir -p {CARGO_HOME} && export RUSTUP_DIST_SERVER={quote(dist)} RUSTUP_UPDATE_ROOT={quote(update)} && "
              f"sh {FETCHED}/rustup-init.sh -y -q --no-modify-path || {failed}")
    unpack(ctx, step, source, script, needs=(("curl", "curl"),))
    append_path(ctx, f"{CARGO_HOME}/bin")


def lower_uv(ctx: Context, step: Step, index: int) -> None:
    """envd: uv's release binaries as /usr/bin/uv and /usr/bin/uvx, then `uv python install
    VERSION` (skipped for a dev base), uv fetching that Python below UV_PYTHON_INSTALL_MIRROR
    when the mirror table points its downloads elsewhere (uv.go)."""
    arch = arch_name(ctx, step, UNAME)
    source = ctx.download(step, UV_URL.format(version=UV_VERSION, arch=arch), filename="uv.tar.gz")
    folder = f"uv-{arch}-unknown-linux-gnu"
    script = f"tar -xzf {FETCHED}/uv.tar.gz --strip-components=1 -C /usr/bin {folder}/uv {folder}/uvx"
    base = next((s for s in ctx.plan.steps if s.kind == "base"), None)
    if not (base and base.args.get("dev")):
        version = step.args["python_version"]
        mirror = ctx.installer_url(step, UV_PYTHON_DOWNLOADS)
        setting = f"UV_PYTHON_INSTALL_MIRROR={quote(mirror)} " if mirror != UV_PYTHON_DOWNLOADS else ""
        failed = fail_line(step, f"uv could not download Python {version} from {mirror}",
                           ctx.mirrors.setting_hint(UV_PYTHON_DOWNLOADS + "/"))
        script += f"\n{setting}uv python install {quote(version)} || {failed}"
        if setting:
            ctx.runtime_env["UV_PYTHON_INSTALL_MIRROR"] = mirror   # later `uv python install`s too
    unpack(ctx, step, source, script)
    ctx.runtime_env.update({"UV_LINK_MODE": "copy", "UV_PYTHON_PREFERENCE": "only-managed"})


# --- R, Julia packages and VS Code extensions (envd: r.go, julia.go, editor.go) -------------

CRAN_KEY_URL = "https://cloud.r-project.org/bin/linux/ubuntu/marutter_pubkey.asc"
CRAN_UBUNTU = "https://cloud.r-project.org/bin/linux/ubuntu"
CRAN_KEYRING = "/usr/share/keyrings/r-project.asc"
CRAN_DEFAULT = "https://cran.rstudio.com"        # envd's repository for install.r_packages
R_LIBRARY = "/usr/local/lib/R/site-library"
JULIA_PKG_SERVER = "https://pkg.julialang.org"   # Julia's default package server
JULIA_DEPOT = f"{JULIA_ROOT}/user_packages"
# Open VSX's file paths (its RegistryAPI): the universal publication's, and a platform's
# (`targetPlatform`), whose file name carries `@<platform>` (its NamingUtil.toFileFormat).
OPEN_VSX_FILE = "https://open-vsx.org/api/{publisher}/{name}/{version}/file/{publisher}.{name}-{version}.vsix"
OPEN_VSX_PLATFORM_FILE = ("https://open-vsx.org/api/{publisher}/{name}/{platform}/{version}/file/"
                          "{publisher}.{name}-{version}@{platform}.vsix")
UNIVERSAL = "universal"   # Open VSX's target platform of an extension published for every platform
VSCODE_EXTENSIONS = "/root/.vscode-server/extensions"
VSCODE_PLATFORM = {"amd64": "linux-x64", "arm64": "linux-arm64"}


def lower_r_lang(ctx: Context, step: Step, index: int) -> None:
    """envd adds CRAN's Ubuntu repository (jammy-cran40, signed by its key) and apt-installs
    r-base (r.go); that repository is for Ubuntu, so on a Debian base r-base comes from the
    base's own Debian archive."""
    if "ubuntu" not in ctx.base_image:
        ctx.state = fetch_step(ctx, scripts.apt_install(["r-base"], ca=ctx.ca is not None), step=step,
                               mounts=apt_mounts(ctx))
        return
    key = ctx.download(step, CRAN_KEY_URL, filename="r-project.asc")
    repo = ctx.installer_url(step, CRAN_UBUNTU)
    source = f"deb [signed-by={CRAN_KEYRING}] {repo} jammy-cran40/"
    failed = fail_line(step, f"apt could not install r-base from {repo}", ctx.mirrors.setting_hint(CRAN_UBUNTU + "/"))
    script = "\n".join([f"cp {FETCHED}/r-project.asc {CRAN_KEYRING}",
                        f"echo {quote(source)} > /etc/apt/sources.list.d/r-project.list",
                        f"(\n{scripts.apt_install(['r-base'], ca=ctx.ca is not None)}\n) || {failed}"])
    unpack(ctx, step, key, script, apt=True)


def plan_setting(ctx: Context, kind: str) -> str:
    """A config.* URL set anywhere in the plan (envd's settings are global, not ordered)."""
    found = next((s for s in ctx.plan.steps if s.kind == kind and s.args.get("url")), None)
    return found.args["url"] if found else ""


_PACKAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def names_of(step: Step) -> list[str]:
    """The names asked for; each is written into an R or Julia expression, so only names."""
    if not step.args["name"]:
        raise LocatedError(step.position, f"{step.kind}: no packages named")
    for name in step.args["name"]:
        if not _PACKAGE.fullmatch(str(name)):
            raise LocatedError(step.position, f"{step.kind}: {name!r} is not a package name")
    return list(step.args["name"])


def lower_r_packages(ctx: Context, step: Step, index: int) -> None:
    """envd: `R -e 'options(repos = MIRROR); install.packages(c(...), lib = ...)'` with
    config.cran_mirror's URL or cran.rstudio.com (r.go), through the mirror table. R only
    warns about a package it could not install; envtrack fails the step in one line."""
    names = names_of(step)
    upstream = plan_setting(ctx, "config.cran_mirror") or CRAN_DEFAULT
    repo = ctx.installer_url(step, upstream)
    vector = "c(" + ", ".join(f'"{n}"' for n in names) + ")"
    failed = fail_line(step, f"R could not install {' '.join(names)} from {repo}",
                       ctx.mirrors.setting_hint(upstream.rstrip("/") + "/"))
    install = f'options(repos = "{repo}"); install.packages({vector}, lib = "{R_LIBRARY}")'
    check = f'for (p in {vector}) if (!requireNamespace(p, lib.loc = "{R_LIBRARY}", quietly = TRUE)) quit(status = 1)'
    script = "\n".join([
        "command -v R >/dev/null 2>&1 || " + fail_line(step, "R is not installed", "call install.r_lang() first"),
        f"mkdir -p {R_LIBRARY}",
        f"R -q -e {quote(install)} || {failed}",
        f"Rscript -e {quote(check)} || {failed}",
    ])
    ctx.state = fetch_step(ctx, script, step=step)


def lower_julia_packages(ctx: Context, step: Step, index: int) -> None:
    """envd: `julia -e 'using Pkg; Pkg.add([...])'` with JULIA_DEPOT_PATH=/opt/julia/user_packages
    (julia.go); Pkg fetches from config.julia_pkg_server's URL, or Julia's package server
    through the mirror table."""
    names = names_of(step)
    server = plan_setting(ctx, "config.julia_pkg_server") or ctx.installer_url(step, JULIA_PKG_SERVER)
    ctx.state = ctx.state.file(Mkdir(JULIA_DEPOT), name=f"{step.label}: depot", position=step.position)
    append_path(ctx, f"{JULIA_ROOT}/bin")
    ctx.state = ctx.state.add_env("JULIA_DEPOT_PATH", JULIA_DEPOT)
    env = {"JULIA_PKG_SERVER": server} if server != JULIA_PKG_SERVER else {}
    ctx.runtime_env.update(env)
    packages = ", ".join(f'"{n}"' for n in names)
    failed = fail_line(step, f"Julia's Pkg could not add {' '.join(names)} from {server}",
                       ctx.mirrors.setting_hint(JULIA_PKG_SERVER + "/"))
    script = f"julia -e {quote(f'using Pkg; Pkg.add([{packages}])')} || {failed}"
    ctx.state = fetch_step(ctx, script, step=step, env=env)


# envd's ParsePlugin (`publisher.extension[-version]`), and the Open VSX publication the build
# found for that version (`@universal` or `@linux-<arch>`, written by with_newest; a user may
# write it too, and then nothing is asked).
_EXTENSION = re.compile(r"([A-Za-z0-9][A-Za-z0-9_-]*)\.([A-Za-z0-9][A-Za-z0-9._-]*?)(?:-(\d[A-Za-z0-9._]*))?"
                        r"(?:@([a-z0-9]+(?:-[a-z0-9]+)?))?")


def extension_parts(step: Step, name: str) -> tuple[str, str, str, str]:
    """`publisher.extension-1.2.3[@platform]` -> (publisher, extension, version, publication);
    a version nothing asked Open VSX about is taken as the universal publication."""
    found = _EXTENSION.fullmatch(name)
    if not found:
        raise LocatedError(step.position, f"{step.kind}: {name!r} is not publisher.extension[-version]")
    publisher, extension, version, publication = found.groups()
    if not version:
        # The build asks Open VSX for the newest and writes it into the step (envtrack.solve.newest).
        raise LocatedError(step.position, f"{step.kind}: {name!r} names no version and nothing asked Open VSX "
                                          f"for its newest")
    return publisher, extension, version, publication or UNIVERSAL


def vsix_url(publisher: str, extension: str, version: str, publication: str) -> str:
    if publication == UNIVERSAL:
        return OPEN_VSX_FILE.format(publisher=publisher, name=extension, version=version)
    return OPEN_VSX_PLATFORM_FILE.format(publisher=publisher, name=extension, version=version, platform=publication)


def lower_vscode_extensions(ctx: Context, step: Step, index: int) -> None:
    """envd: each extension's .vsix from Open VSX, its `extension/` folder copied to
    ~/.vscode-server/extensions/<publisher>.<name>-<version>@<platform> (editor.go): the
    universal publication's file, or the Engine platform's when Open VSX publishes the
    version only per platform (envtrack.solve.newest asked which)."""
    platform = arch_name(ctx, step, VSCODE_PLATFORM)
    if not step.args["name"]:
        raise LocatedError(step.position, f"{step.kind}: no extensions named")
    for name in step.args["name"]:
        publisher, extension, version, publication = extension_parts(step, str(name))
        if publication not in (UNIVERSAL, platform):
            raise LocatedError(step.position, f"{step.kind}: {name!r} names Open VSX's {publication} publication; "
                                              f"the Engine's platform is {platform}")
        source = ctx.download(step, vsix_url(publisher, extension, version, publication), filename="extension.vsix")
        target = f"{VSCODE_EXTENSIONS}/{publisher}.{extension}-{version}@{platform}"
        unpack(ctx, step, source, f"rm -rf /tmp/vsix {quote(target)} && unzip -q {FETCHED}/extension.vsix 'extension/*' "
                                  f"-d /tmp/vsix && mkdir -p {VSCODE_EXTENSIONS} && mv /tmp/vsix/extension {quote(target)}",
               needs=(("unzip", "unzip"),))


# --- RStudio Server -------------------------------------------------------------------------

RSERVER = "/usr/lib/rstudio-server/bin/rserver"   # what envd runs (supervisor.go, editor.go)
RSTUDIO_PORT = 8787                                 # envd's RStudioServerPortInContainer
# envd runs the base image's RStudio Server and downloads none; on any other base envtrack
# installs Posit's RStudio Server .deb for Ubuntu 22.04 (also Posit's build for Debian 12), the
# release below, for the Engine's architecture. Posit publishes no checksum in a file envtrack
# could pin, so none is checked (as for codex's and pixi's release archives).
RSTUDIO_VERSION = "2024.12.1-563"
RSTUDIO_URL = "https://download2.rstudio.org/server/jammy/{arch}/rstudio-server-{version}-{arch}.deb"
RSTUDIO_ARCH = {"amd64": "amd64", "arm64": "arm64"}


def lower_rstudio_server(ctx: Context, step: Step, index: int) -> None:
    """The base image's RStudio Server when it has one (envd's way), else Posit's .deb fetched by
    BuildKit (through the mirror table) and apt-installed with its dependencies; container port
    8787 is exposed and `up` runs rserver, supervised (envtrack.container.spec)."""
    url = RSTUDIO_URL.format(version=RSTUDIO_VERSION, arch=arch_name(ctx, step, RSTUDIO_ARCH))
    source = ctx.download(step, url, filename="rstudio-server.deb")
    install = scripts.apt_install([f"{FETCHED}/rstudio-server.deb"], ca=ctx.ca is not None)
    failed = fail_line(step, f"apt could not install {url.rsplit('/', 1)[1]} and its dependencies",
                       "its dependencies come from the image's apt sources")
    unpack(ctx, step, source, f"[ -x {RSERVER} ] || (\n{install}\n) || {failed}", apt=True)
    ctx.ports.append(f"{RSTUDIO_PORT}/tcp")


# --- the newest release, asked at build time as envd asks (gh_release.go, vscode/util.go) -----

GITHUB_API = "https://api.github.com"
# envd asks for the 10 newest releases and takes the first that is neither a draft nor a prerelease.
CODEX_RELEASES = GITHUB_API + "/repos/openai/codex/releases?per_page=10"
OPEN_VSX_LATEST = "https://open-vsx.org/api/{publisher}/{name}/latest?targetPlatform={platform}"
# One version's metadata; its `downloads` map each target platform that publishes it to its file.
OPEN_VSX_VERSION = "https://open-vsx.org/api/{publisher}/{name}/{version}"


@dataclass(frozen=True)
class NewestAsk:
    """One question a build asks before it is lowered, at UPSTREAM (an API answering JSON):
    the newest release of what step STEP (its NAME-th name, for a list) leaves unversioned, or
    which Open VSX publication (universal or PLATFORM's) has a pinned extension's version."""

    step: int
    name: int | None
    upstream: str
    what: str            # "the newest codex", "the newest publisher.extension", ...
    platform: str = ""   # an extension's: the Engine's target platform (linux-x64, linux-arm64)
    version: str = ""    # a pinned extension's version, whose file is asked for

    def to_json(self) -> dict:
        return {"step": self.step, "name": self.name, "upstream": self.upstream, "what": self.what,
                "platform": self.platform, "version": self.version}

    @classmethod
    def from_json(cls, data: dict) -> "NewestAsk":
        return cls(int(data["step"]), None if data["name"] is None else int(data["name"]), str(data["upstream"]),
                   str(data["what"]), str(data["platform"]), str(data["version"]))


def newest_asks(plan, arch: str) -> tuple[NewestAsk, ...]:
    """What PLAN leaves to Open VSX or GitHub: install.codex() without a version, VS Code
    extensions named without one (envd: `publisher.name`), and for one named with a version,
    which file publishes it (Open VSX publishes some only per platform); a name that says
    which (`@universal`, `@linux-x64`) asks nothing."""
    asks = []
    platform = VSCODE_PLATFORM.get(arch, VSCODE_PLATFORM["amd64"])
    for index, step in enumerate(plan.steps):
        if step.kind == "install.codex" and not str(step.args.get("version") or "").strip():
            asks.append(NewestAsk(index, None, CODEX_RELEASES, "the newest codex"))
        elif step.kind == "install.vscode_extensions":
            for number, name in enumerate(step.args.get("name") or ()):
                found = _EXTENSION.fullmatch(str(name))
                if not found:
                    continue   # lowering says why, at its position
                publisher, extension, version, publication = found.groups()
                if not version:
                    url = OPEN_VSX_LATEST.format(publisher=publisher, name=extension, platform=platform)
                    asks.append(NewestAsk(index, number, url, f"the newest {name}", platform))
                elif not publication:
                    url = OPEN_VSX_VERSION.format(publisher=publisher, name=extension, version=version)
                    asks.append(NewestAsk(index, number, url, f"the file of {name}", platform, version))
    return tuple(asks)


def newest_from(ask: NewestAsk, answer) -> str:
    """What an API's JSON ANSWER says: codex's newest tag; for an extension `VERSION@PUBLICATION`,
    the publication being `universal` when Open VSX has one (as envd takes it), else the
    Engine's platform. ValueError (its message: why) when it says neither."""
    if ask.name is None:
        if not isinstance(answer, list):
            raise ValueError("the answer is not a list of releases")
        for release in answer:
            if isinstance(release, dict) and release.get("tag_name") and not (release.get("draft")
                                                                              or release.get("prerelease")):
                tag = str(release["tag_name"])
                if not _VERSION.fullmatch(tag):
                    raise ValueError(f"its newest release {tag!r} is not a release name")
                return tag
        raise ValueError(f"no stable release among the {len(answer)} newest")
    version = answer.get("version") if isinstance(answer, dict) else None
    if not isinstance(version, str) or not re.fullmatch(r"\d[A-Za-z0-9._]*", version):
        raise ValueError("the answer names no version")
    if ask.version and version != ask.version:
        raise ValueError(f"the answer is about version {version}")
    downloads = answer.get("downloads")
    if not isinstance(downloads, dict):   # an Open VSX before `downloads`: its one file's platform
        files = answer.get("files")
        downloads = {str(answer.get("targetPlatform") or UNIVERSAL): ""} if isinstance(files, dict) and \
            files.get("download") else {}
    if UNIVERSAL in downloads:
        return f"{version}@{UNIVERSAL}"
    if ask.platform in downloads:
        return f"{version}@{ask.platform}"
    published = ", ".join(sorted(map(str, downloads))) or "no platform"
    raise ValueError(f"Open VSX publishes version {version} for {published}, not for {ask.platform}")


def with_newest(plan, answers: dict[NewestAsk, str]):
    """PLAN with each answer written into its step, as if build.envd had named it."""
    import dataclasses

    steps = list(plan.steps)
    for ask, answer in answers.items():
        step = steps[ask.step]
        if ask.name is None:
            args = dict(step.args, version=answer)
        else:
            names = list(step.args["name"])
            found = _EXTENSION.fullmatch(str(names[ask.name]))
            names[ask.name] = f"{found.group(1)}.{found.group(2)}-{answer}"
            args = dict(step.args, name=names)
        steps[ask.step] = dataclasses.replace(step, args=args)
    return dataclasses.replace(plan, steps=tuple(steps))


def _prefix(template: str) -> str:
    """`https://go.dev/dl/go{version}...` -> `https://go.dev/dl/`: what a mirror entry names."""
    head = template.split("{", 1)[0]
    return head if "{" not in template else head.rsplit("/", 1)[0] + "/"


# Every upstream these builtins fetch from, for `envtrack doctor`.
UPSTREAM_PREFIXES = tuple(dict.fromkeys(_prefix(t) for t in (
    GO_URL, NODE_URL, RUSTUP_INIT_URL, RUST_DIST_SERVER + "/", JULIA_RELEASES["amd64"][0].rsplit("/x64/", 1)[0] + "/",
    PIXI_URL, CODEX_URL, UV_URL, UV_PYTHON_DOWNLOADS + "/", CRAN_UBUNTU + "/", CRAN_DEFAULT + "/",
    JULIA_PKG_SERVER + "/", OPEN_VSX_FILE, RSTUDIO_URL, GITHUB_API + "/",
)))
