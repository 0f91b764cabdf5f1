"""An immutable build state, modelled on BuildKit's Go `client/llb.State`.

Every operation returns a new State whose `parent` is the one it was called on, so a
chain of steps is a persistent list: earlier States stay valid and unchanged. A State
carries the filesystem result it points at (`output`) and the process defaults later
execs inherit (env, working directory, user), which BuildKit does not read from the
image when no frontend is involved.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping, Sequence

from envtrack.errors import Position
from envtrack.state.marshal import marshal
from envtrack.state.vertex import (
    DiffVertex,
    ExecVertex,
    FileAction,
    FileVertex,
    MergeVertex,
    Mount,
    Network,
    Output,
    Platform,
    ProxyEnv,
    Security,
    SourceVertex,
)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True, eq=False)
class State:
    output: Output | None                        # None: the empty filesystem
    env: tuple[tuple[str, str], ...] = ()        # in the order first set
    cwd: str = "/"
    user: str = ""
    platform: Platform | None = None
    parent: "State | None" = field(default=None, repr=False)

    # --- constructors -----------------------------------------------------------

    @classmethod
    def scratch(cls, platform: Platform | None = None) -> "State":
        return cls(output=None, platform=platform)

    @classmethod
    def image(
        cls,
        ref: str,
        *,
        platform: Platform | None = None,
        name: str = "",
        position: Position | None = None,
    ) -> "State":
        """A docker-image source; REF is normalised to docker.io/... form."""
        vertex = SourceVertex(
            identifier=f"docker-image://{normalize_image_ref(ref)}",
            platform=platform,
            name=name or f"base {ref}",
            position=position,
        )
        return cls(output=Output(vertex), env=(("PATH", DEFAULT_PATH),), platform=platform)

    @classmethod
    def http(cls, url: str, *, checksum: str = "", filename: str = "", name: str = "",
             position: Position | None = None) -> "State":
        """A file fetched by BuildKit itself; with CHECKSUM (`sha256:...`) a mismatch fails the build."""
        attrs = tuple(sorted({"http.checksum": checksum, "http.filename": filename}.items()))
        vertex = SourceVertex(identifier=url, attrs=tuple((k, v) for k, v in attrs if v),
                              name=name or f"http {url}", position=position)
        return cls(output=Output(vertex))

    @classmethod
    def merge(cls, states: Sequence["State"], *, name: str = "",
              position: Position | None = None) -> "State":
        """Layer STATES in order (like llb.Merge): later states' files win over earlier ones.

        Scratch inputs are dropped; a merge of one state is that state. The result keeps
        the first state's process defaults, as llb.Merge does.
        """
        layers = [s for s in states if s.output is not None]
        if not layers:
            return cls.scratch()
        if len(layers) == 1:
            return layers[0]
        vertex = MergeVertex(layers=tuple(s.output for s in layers), name=name or "merge",
                             position=position)
        return layers[0]._child(output=Output(vertex))

    @classmethod
    def diff(cls, lower: "State", upper: "State", *, name: str = "",
             position: Position | None = None) -> "State":
        """What UPPER changed relative to LOWER (like llb.Diff), deletions included.

        Merged onto another state it replays those changes there. A diff from scratch is
        UPPER itself. The result keeps LOWER's process defaults, as llb.Diff does.
        """
        if lower.output is None:
            return upper if upper.output is not None else cls.scratch()
        vertex = DiffVertex(lower=lower.output, upper=upper.output, name=name or "diff",
                            position=position)
        return lower._child(output=Output(vertex))

    # --- process defaults (no vertex) ----------------------------------------------

    def add_env(self, key: str, value: str) -> "State":
        """Set KEY for later execs; a key already set keeps its place in the order."""
        if any(k == key for k, _ in self.env):
            env = tuple((k, value if k == key else v) for k, v in self.env)
        else:
            env = self.env + ((key, value),)
        return self._child(env=env)

    def get_env(self, key: str) -> str | None:
        return next((v for k, v in self.env if k == key), None)

    def dir(self, path: str) -> "State":
        """Working directory for later execs; relative paths resolve against the current one."""
        if not path.startswith("/"):
            path = self.cwd.rstrip("/") + "/" + path
        return self._child(cwd=path)

    def with_user(self, user: str) -> "State":
        return self._child(user=user)

    # --- operations (one vertex each) ----------------------------------------------

    def run(
        self,
        args: Sequence[str] | None = None,
        *,
        shell: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        user: str | None = None,
        mounts: Iterable[Mount] = (),
        network: Network = Network.SANDBOX,
        security: Security = Security.SANDBOX,
        proxy_env: ProxyEnv | None = None,
        hostname: str = "",
        name: str = "",
        position: Position | None = None,
    ) -> "State":
        """Run ARGS (or `sh -c SHELL`) on this filesystem; the result is the changed root.

        ENV adds to this State's env for this exec only. Proxy settings go in
        `proxy_env`, which BuildKit keeps out of the cache key.
        """
        if (args is None) == (shell is None):
            raise ValueError("run: give exactly one of args or shell")
        argv = tuple(args) if args is not None else ("/bin/sh", "-c", shell)
        if not argv:
            raise ValueError("run: empty command")
        exec_state = self
        for key, value in (env or {}).items():
            exec_state = exec_state.add_env(key, value)
        vertex = ExecVertex(
            root=self.output,
            args=argv,
            env=tuple(f"{k}={v}" for k, v in exec_state.env),
            cwd=cwd or self.cwd,
            user=self.user if user is None else user,
            mounts=tuple(mounts),
            network=network,
            security=security,
            proxy_env=proxy_env,
            hostname=hostname,
            platform=self.platform,
            name=name or " ".join(argv),
            position=position,
        )
        return self._child(output=Output(vertex, vertex.result_index))

    def file(self, *actions: FileAction, name: str = "", position: Position | None = None) -> "State":
        """Apply file actions in order (mkdir, mkfile, rm, copy) as one vertex."""
        if not actions:
            raise ValueError("file: no actions")
        vertex = FileVertex(
            base=self.output,
            actions=tuple(actions),
            platform=self.platform,
            name=name or describe_actions(actions),
            position=position,
        )
        return self._child(output=Output(vertex))

    def with_output(self, output: Output | None) -> "State":
        """This state's process defaults over another filesystem result (llb's WithOutput)."""
        return self._child(output=output)

    # --- walking ---------------------------------------------------------------

    def marshal(self, sources: Mapping[str, str] | None = None):
        """The deterministic pb.Definition for this State (see envtrack.state.marshal)."""
        return marshal(self, sources=sources)

    def _child(self, **changes) -> "State":
        return replace(self, parent=self, **changes)


def describe_actions(actions: Sequence[FileAction]) -> str:
    return "; ".join(f"{type(a).__name__.lower()} {getattr(a, 'path', getattr(a, 'dest', ''))}" for a in actions)


def normalize_image_ref(ref: str) -> str:
    """`debian:bookworm` -> `docker.io/library/debian:bookworm`, `org/x` -> `docker.io/org/x:latest`.

    A first component with a dot or colon, or `localhost`, is a registry host and kept.
    """
    if not ref or ref != ref.strip() or any(c.isspace() for c in ref):
        raise ValueError(f"invalid image reference {ref!r}")
    name, digest = (ref.split("@", 1) + [""])[:2]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        host, path = first, rest
    else:
        host, path = "docker.io", name
    if host == "docker.io" and "/" not in path:
        path = f"library/{path}"
    if not digest and ":" not in path.rsplit("/", 1)[-1]:
        path += ":latest"
    return f"{host}/{path}" + (f"@{digest}" if digest else "")
