"""What lowering carries from step to step, and the helpers every builtin's lowering uses.

Pure: `Context` is mutated only while one plan is lowered (envtrack.llb.lower.lower).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from envtrack.errors import Position
from envtrack.frontend.steps import Plan, Step
from envtrack.hostca import CA_ENV_NAMES
from envtrack.llb import scripts
from envtrack.llb.host import HostFile, HostInputs
from envtrack.llb.image_config import ImageConfig
from envtrack.llb.options import CONDA_INSTALLERS, DEFAULT_ARCH
from envtrack.mirrors import MirrorTable
from envtrack.state import CacheSharing, Mkfile, Mount, ProxyEnv, State
from envtrack.state.vertex import Output

BAKED_CA = "/usr/local/share/ca-certificates/envtrack/host-ca.crt"

APT_LISTS_ID = "envtrack-apt-lists"
PIP_MOUNTS = (Mount.cache(scripts.PIP_CACHE, "envtrack-pip-cache", CacheSharing.LOCKED),)
CONDA_MOUNTS = (Mount.cache(scripts.CONDA_PKGS, "envtrack-conda-pkgs", CacheSharing.LOCKED),)
PIP_ENV = {"PIP_CACHE_DIR": scripts.PIP_CACHE, "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "PIP_NO_INPUT": "1", "PIP_ROOT_USER_ACTION": "ignore"}
UV_ENV = {"UV_CACHE_DIR": f"{scripts.UV_CACHE}/cache", "UV_LINK_MODE": "copy", "UV_COMPILE_BYTECODE": "1",
          "UV_NO_PROGRESS": "1", "UV_PYTHON_DOWNLOADS": "never"}   # copy: the cache is another mount
PYTHON_INSTALL_ENV = PIP_ENV | UV_ENV   # steps that run scripts.pip_install

@dataclass(frozen=True)
class Download:
    """One URL a build fetches, or hands an installer to fetch under: as envd names it
    (`upstream`) and as fetched after the mirror table (`url`)."""

    kind: str                       # the builtin
    upstream: str
    url: str
    position: Position | None = None
    output: Output | None = None    # BuildKit's HTTP source; None: an installer fetches it in its step
    hint: str = ""                  # the ENVTRACK_MIRRORS setting that would point it elsewhere
    checksum: str = ""              # `sha256:...` BuildKit verifies; "" when the URL's bytes may change

    def to_json(self) -> dict:
        return {"builtin": self.kind, "upstream": self.upstream, "url": self.url,
                "fetched_by": "buildkit" if self.output is not None else "installer"}


@dataclass(frozen=True)
class Lowered:
    state: State
    image_config: ImageConfig
    step_outputs: tuple[tuple[Output, Step], ...]   # the vertex each user step made
    downloads: tuple[Download, ...] = ()


@dataclass
class Context:
    """What lowering carries from step to step (mutable only inside `lower`)."""

    plan: Plan
    host: HostInputs
    ca: State | None
    proxy: ProxyEnv | None
    state: State | None = None
    base_image: str = ""
    has_python: bool = False
    owner: tuple[int, int] = (0, 0)     # uid, gid of a dev environment's user (envtrack.llb.dev)
    apt_lists_id: str = APT_LISTS_ID
    runtime_env: dict[str, str] = field(default_factory=dict)
    extra_path: list[str] = field(default_factory=list)
    cmd: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    has_conda: bool = False
    use_mamba: bool = False
    ports: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    outputs: list[tuple[Output, Step]] = field(default_factory=list)
    mirrors: MirrorTable = field(default_factory=MirrorTable)
    conda_tool: str = CONDA_INSTALLERS           # BuildOptions.conda_tool
    arch: str = DEFAULT_ARCH                     # the Engine's, which toolchains are downloaded for
    downloads: list[Download] = field(default_factory=list)

    def download(self, step: Step, upstream: str, *, checksum: str = "", filename: str = "") -> State:
        """UPSTREAM fetched by BuildKit's HTTP source from where the mirror table points it:
        content-addressed and cached across builds, CHECKSUM (`sha256:...`) verified."""
        url = self.mirrors.rewrite(upstream)
        source = State.http(url, checksum=checksum, filename=filename, name=f"download {url}",
                            position=step.position)
        self.downloads.append(Download(step.kind, upstream, url, step.position, source.output,
                                       self.mirrors.setting_hint(upstream), checksum))
        return source

    def installer_url(self, step: Step, upstream: str, *, fallback: bool = False) -> str:
        """The base URL handed to an installer that fetches below it itself (rustup's dist
        server, uv's Python downloads, a CRAN repository): UPSTREAM through the mirror table.
        A prefix written with or without its trailing `/` matches either way. A FALLBACK's
        URL (fetched only when the image cannot serve, like install.python's micromamba) is
        not listed among the build's downloads."""
        url = self.mirrors.rewrite(upstream)
        if url == upstream and not upstream.endswith("/"):
            slashed = self.mirrors.rewrite(upstream + "/")
            url = slashed.rstrip("/") if slashed != upstream + "/" else upstream
        if not fallback:
            self.downloads.append(Download(step.kind, upstream, url, step.position, None,
                                           self.mirrors.setting_hint(upstream)))
        return url
    pins: dict[str, str] = field(default_factory=dict)   # image ref -> repo@digest (`up --locked`)

    def image(self, ref: str, **kwargs) -> State:
        """An image source for REF, by its pinned digest when the build is locked."""
        return State.image(self.pins.get(ref, ref), **kwargs)


def fetch_step(ctx: Context, script: str, *, step: Step | None = None, name: str = "",
               position=None, mounts: tuple[Mount, ...] = (), env: dict[str, str] | None = None) -> State:
    """An exec that may reach the network: it gets the CA mount and the proxy settings."""
    env = dict(env or {})
    mounts = tuple(mounts)
    if ctx.ca is not None:
        mounts += (Mount.bind(scripts.CA_PATH, ctx.ca.output, selector="/ca.pem", readonly=True),)
        env.update({name_: scripts.CA_PATH for name_ in CA_ENV_NAMES})
    return ctx.state.run(
        shell=script, env=env, mounts=mounts, proxy_env=ctx.proxy,
        name=step.label if step else name, position=step.position if step else position,
    )


def python_install_mounts(ctx: Context) -> tuple[Mount, ...]:
    """pip's cache and uv's, for scripts.pip_install. uv comes from the package index in use
    (config.pip_index), so each index has a uv cache of its own: what one index lacks, or
    serves, never decides for another."""
    index = ctx.state.get_env("PIP_INDEX_URL") if ctx.state is not None else None
    suffix = f"-{hashlib.sha256(index.encode()).hexdigest()[:12]}" if index else ""
    return PIP_MOUNTS + (Mount.cache(scripts.UV_CACHE, f"envtrack-uv-cache{suffix}", CacheSharing.LOCKED),)


def apt_mounts(ctx: Context) -> tuple[Mount, ...]:
    return (
        Mount.cache(scripts.APT_CACHE, "envtrack-apt-cache", CacheSharing.LOCKED),
        Mount.cache(scripts.APT_LISTS, ctx.apt_lists_id, CacheSharing.LOCKED),
    )


def inputs_mount(files: tuple[HostFile, ...]) -> tuple[Mount, ...]:
    """The step's host files as a read-only directory at scripts.INPUTS."""
    if not files:
        return ()
    state = State.scratch().file(*(Mkfile(f"/{f.name}", f.data, mode=0o644) for f in files),
                                 name="host files")
    return (Mount.bind(scripts.INPUTS, state.output, readonly=True),)
