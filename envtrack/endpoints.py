"""Which Docker Engine and which BuildKit a command talks to: the one home of that choice.

Both the Engine client (`envtrack.engine`) and the BuildKit client (`envtrack.buildkit`)
read it, so neither package has to import the other to find its peer.

The Engine is chosen the way the docker CLI chooses it, with envtrack's own contexts in
between (first match wins):

1. ENVTRACK_CONTEXT: an envtrack context by name;
2. DOCKER_HOST (with DOCKER_TLS_VERIFY / DOCKER_TLS / DOCKER_CERT_PATH);
3. DOCKER_CONTEXT: a docker context by name;
4. the envtrack context in use: the project's (`.envtrack/context.json` beside build.envd),
   then the user's (`current` in ~/.config/envtrack/contexts.json);
5. the docker CLI's current context (`currentContext` in ~/.docker/config.json);
6. the default socket, /var/run/docker.sock.

The builder is `--builder`, else ENVTRACK_BUILDKIT_HOST, else the context's builder, else
the BuildKit embedded in that Engine. Everything below `resolve` is pure: it takes the
environment and a file reader, so the rules are unit-tested without touching a home folder.

`resolve_for(DIR)` applies them to this machine, once per project (`Project.endpoints`) or once
per command that has none; every function that dials takes the endpoint it is given, so no
choice of Engine is kept in this module.
"""

from __future__ import annotations

import json
import os
from collections import namedtuple
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

from envtrack.errors import EnvtrackError

DEFAULT_SOCKET = "/var/run/docker.sock"
DEFAULT_HOST = f"unix://{DEFAULT_SOCKET}"
DEFAULT_CONTEXT = "default"            # both CLIs' name for "no context chosen"
ENGINE_SCHEMES = ("unix", "tcp", "ssh")
BUILDER_SCHEMES = ("unix", "tcp")
CONTEXTS_FILE = "contexts.json"        # in the user's envtrack config folder
PROJECT_CONTEXT_FILE = "context.json"  # in a project's .envtrack/ folder
TLS_FILES = ("ca.pem", "cert.pem", "key.pem")  # the docker CLI's names in DOCKER_CERT_PATH

TYPE_CHECKING = False   # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Callable, Mapping

    ReadText = Callable[[Path], "str | None"]   # a file's text, or None when it cannot be read

# The records below are plain namedtuples, not dataclasses or typing.NamedTuple: every command
# resolves its Engine here, and those two modules cost `envtrack exec` more than it may spend
# beside `docker exec`. Each docstring gives the fields and their types.


class TLS(namedtuple("TLS", "ca cert key")):
    """Client-side TLS: a CA to verify the server by (None: do not verify) and a client key pair
    (cert, key); each a path or None."""

    __slots__ = ()

    @classmethod
    def from_dir(cls, directory: str, verify: bool = True) -> "TLS":
        ca, cert, key = (str(Path(directory) / name) for name in TLS_FILES)
        return cls(ca if verify else None, cert, key)

    def to_json(self) -> dict:
        return {"ca": self.ca, "cert": self.cert, "key": self.key}

    @classmethod
    def from_json(cls, data: object) -> "TLS | None":
        if not isinstance(data, dict):
            return None
        return cls(*(str(data[k]) if data.get(k) else None for k in ("ca", "cert", "key")))


class EngineEndpoint(namedtuple("EngineEndpoint", "host tls source", defaults=(None, "default"))):
    """host: unix:///PATH | tcp://HOST:PORT | ssh://[USER@]HOST[:PORT]; tls: TLS or None;
    source: where the choice came from, for doctor and status."""

    __slots__ = ()

    @property
    def scheme(self) -> str:
        return self.host.split("://", 1)[0]

    @property
    def socket_path(self) -> str:
        """The Unix socket's path (unix:// only)."""
        return self.host[len("unix://"):]

    @property
    def is_local(self) -> bool:
        """Only a Unix socket's Engine shares this machine's files: bind mounts are possible."""
        return self.scheme == "unix"

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) of a tcp:// Engine; 2376 with TLS, 2375 without, as docker defaults."""
        parts = urlsplit(self.host)
        return parts.hostname or "127.0.0.1", parts.port or (2376 if self.tls else 2375)

    def docker_env(self) -> dict[str, str]:
        """The environment that points the docker CLI at this Engine (for `envtrack shell`)."""
        env = {"DOCKER_HOST": self.host, "DOCKER_CONTEXT": ""}
        if self.tls and self.tls.cert:
            env["DOCKER_CERT_PATH"] = str(Path(self.tls.cert).parent)
            env["DOCKER_TLS_VERIFY"] = "1" if self.tls.ca else ""
            env["DOCKER_TLS"] = "1"
        return env

    @property
    def display(self) -> str:
        """How messages name it: a Unix socket by its path, anything else by its address."""
        return self.socket_path if self.is_local else self.host

    def describe(self) -> str:
        tls = " with TLS" if self.tls else ""
        return f"{self.display}{tls}, from {self.source}"


class BuilderEndpoint(namedtuple("BuilderEndpoint", "address tls source",
                                 defaults=(None, "the Engine's BuildKit"))):
    """address: None for the BuildKit embedded in the Engine; tls: TLS or None; source: as EngineEndpoint's."""

    __slots__ = ()

    def describe(self) -> str:
        if self.address is None:
            return "the Engine's embedded BuildKit"
        return f"buildkitd at {self.address}{' with TLS' if self.tls else ''}, from {self.source}"


class Context(namedtuple("Context", "name engine engine_tls builder builder_tls description",
                         defaults=(None, None, None, None, ""))):
    """An envtrack context: an Engine and/or a builder, by name. engine and builder are
    addresses or None, each with its TLS or None; description is free text."""

    __slots__ = ()

    def to_json(self) -> dict:
        data = {"engine": self.engine, "builder": self.builder, "description": self.description,
                "engine_tls": self.engine_tls.to_json() if self.engine_tls else None,
                "builder_tls": self.builder_tls.to_json() if self.builder_tls else None}
        return {key: value for key, value in data.items() if value}

    @classmethod
    def from_json(cls, name: str, data: object, where: str) -> "Context":
        if not isinstance(data, dict):
            raise EnvtrackError(f"{where}: context {name!r} is not an object", exit_code=2)
        context = cls(name, _text(data.get("engine")), TLS.from_json(data.get("engine_tls")),
                      _text(data.get("builder")), TLS.from_json(data.get("builder_tls")),
                      str(data.get("description") or ""))
        validate_context(context, where)
        return context


class ContextStore(namedtuple("ContextStore", "contexts current", defaults=(MappingProxyType({}), None))):
    """The user's contexts file: every context by name (a mapping never changed: a new store
    is made) and the name of the one in use, or None."""

    __slots__ = ()

    def to_json(self) -> dict:
        return {"current": self.current,
                "contexts": {name: c.to_json() for name, c in sorted(self.contexts.items())}}


class Endpoints(namedtuple("Endpoints", "engine builder context")):
    """An EngineEndpoint, a BuilderEndpoint and the envtrack context that chose them (or None)."""

    __slots__ = ()

    def to_json(self) -> dict:
        return {"engine": self.engine.host, "engine_tls": self.engine.tls is not None,
                "engine_source": self.engine.source, "builder": self.builder.address,
                "builder_source": self.builder.source, "context": self.context}


# --- pure rules ---------------------------------------------------------------------------

def _text(value: object) -> str | None:
    return str(value) if value else None


def validate_host(host: str, schemes: tuple[str, ...], what: str) -> str:
    scheme = host.split("://", 1)[0] if "://" in host else ""
    if scheme not in schemes or not host.split("://", 1)[1]:
        forms = {"unix": "unix:///PATH", "tcp": "tcp://HOST:PORT", "ssh": "ssh://[USER@]HOST[:PORT]"}
        raise EnvtrackError(f"{what} {host!r}: use " + ", ".join(forms[s] for s in schemes), exit_code=2)
    return host


def validate_context(context: Context, where: str) -> None:
    if context.engine:
        validate_host(context.engine, ENGINE_SCHEMES, f"{where}: context {context.name!r}: engine")
    if context.builder:
        validate_host(context.builder, BUILDER_SCHEMES, f"{where}: context {context.name!r}: builder")


def parse_store(text: str | None, where: str) -> ContextStore:
    if not text:
        return ContextStore()
    try:
        data = json.loads(text)
    except ValueError as error:
        raise EnvtrackError(f"{where}: not JSON ({error})", exit_code=2) from None
    if not isinstance(data, dict) or not isinstance(data.get("contexts", {}), dict):
        raise EnvtrackError(f"{where}: want {{\"current\": NAME, \"contexts\": {{NAME: {{...}}}}}}", exit_code=2)
    contexts = {name: Context.from_json(name, value, where) for name, value in data.get("contexts", {}).items()}
    return ContextStore(contexts, _text(data.get("current")))


def docker_env_engine(environ: Mapping[str, str], docker_dir: Path) -> EngineEndpoint | None:
    """DOCKER_HOST with TLS as the docker CLI reads it: DOCKER_TLS_VERIFY verifies, DOCKER_TLS does not."""
    host = environ.get("DOCKER_HOST")
    if not host:
        return None
    validate_host(host, ENGINE_SCHEMES, "DOCKER_HOST")
    verify = bool(environ.get("DOCKER_TLS_VERIFY"))
    tls = None
    if verify or environ.get("DOCKER_TLS"):
        tls = TLS.from_dir(environ.get("DOCKER_CERT_PATH") or str(docker_dir), verify)
    return EngineEndpoint(host, tls, "DOCKER_HOST")


def docker_context_engine(name: str, docker_dir: Path, read: ReadText) -> EngineEndpoint:
    """A docker CLI context: meta.json under contexts/meta/<sha256 of NAME>/, TLS files under contexts/tls/."""
    import hashlib  # only for docker contexts

    digest = hashlib.sha256(name.encode()).hexdigest()
    meta_path = docker_dir / "contexts" / "meta" / digest / "meta.json"
    text = read(meta_path)
    if text is None:
        raise EnvtrackError(f"docker context {name!r} not found ({meta_path})", hint="docker context ls", exit_code=2)
    try:
        endpoint = json.loads(text)["Endpoints"]["docker"]
        host = str(endpoint["Host"])
    except (ValueError, KeyError, TypeError):
        raise EnvtrackError(f"{meta_path}: no Endpoints.docker.Host", exit_code=2) from None
    validate_host(host, ENGINE_SCHEMES, f"docker context {name!r}")
    tls_dir = docker_dir / "contexts" / "tls" / digest / "docker"
    tls = None
    if read(tls_dir / "cert.pem") is not None or read(tls_dir / "ca.pem") is not None:
        verify = not endpoint.get("SkipTLSVerify", False)
        tls = TLS(str(tls_dir / "ca.pem") if verify and read(tls_dir / "ca.pem") is not None else None,
                  *((str(tls_dir / "cert.pem"), str(tls_dir / "key.pem"))
                    if read(tls_dir / "cert.pem") is not None else (None, None)))
    return EngineEndpoint(host, tls, f"docker context {name}")


def docker_current_context(docker_dir: Path, read: ReadText) -> str | None:
    text = read(docker_dir / "config.json")
    try:
        name = json.loads(text).get("currentContext") if text else None
    except (ValueError, AttributeError):
        return None
    return name if isinstance(name, str) and name and name != DEFAULT_CONTEXT else None


def context_by_name(store: ContextStore, name: str) -> Context:
    if name not in store.contexts:
        known = ", ".join(sorted(store.contexts)) or "none"
        raise EnvtrackError(f"no envtrack context {name!r} (known: {known})",
                            hint="envtrack context create NAME --engine HOST", exit_code=2)
    return store.contexts[name]


def chosen_context(environ: Mapping[str, str], store: ContextStore, project_choice: str | None
                   ) -> tuple[Context | None, bool]:
    """The envtrack context that applies and whether ENVTRACK_CONTEXT named it (it then beats DOCKER_*)."""
    if environ.get("ENVTRACK_CONTEXT"):
        name = environ["ENVTRACK_CONTEXT"]
        return (None if name == DEFAULT_CONTEXT else context_by_name(store, name)), True
    name = project_choice or store.current
    if not name or name == DEFAULT_CONTEXT:
        return None, False
    return context_by_name(store, name), False


def resolve(environ: Mapping[str, str], store: ContextStore, project_choice: str | None, docker_dir: Path,
            read: ReadText, builder: str | None = None) -> Endpoints:
    """The Engine and builder for one command, by the rules in this module's docstring."""
    context, forced = chosen_context(environ, store, project_choice)
    engine = None
    if context and context.engine and forced:
        engine = EngineEndpoint(context.engine, context.engine_tls, f"envtrack context {context.name}")
    engine = engine or docker_env_engine(environ, docker_dir)
    if engine is None and environ.get("DOCKER_CONTEXT") and environ["DOCKER_CONTEXT"] != DEFAULT_CONTEXT:
        engine = docker_context_engine(environ["DOCKER_CONTEXT"], docker_dir, read)
    if engine is None and context and context.engine:
        engine = EngineEndpoint(context.engine, context.engine_tls, f"envtrack context {context.name}")
    if engine is None:
        current = docker_current_context(docker_dir, read)
        engine = docker_context_engine(current, docker_dir, read) if current else EngineEndpoint(DEFAULT_HOST)
    return Endpoints(engine, resolve_builder(environ, context, builder), context.name if context else None)


def resolve_builder(environ: Mapping[str, str], context: Context | None, flag: str | None) -> BuilderEndpoint:
    env_tls = {key: environ.get(f"ENVTRACK_BUILDKIT_TLS_{key.upper()}") for key in ("ca", "cert", "key")}
    tls_from_env = TLS(**env_tls) if any(env_tls.values()) else None
    if flag:
        return BuilderEndpoint(validate_host(flag, BUILDER_SCHEMES, "--builder"), tls_from_env, "--builder")
    if environ.get("ENVTRACK_BUILDKIT_HOST"):
        address = validate_host(environ["ENVTRACK_BUILDKIT_HOST"], BUILDER_SCHEMES, "ENVTRACK_BUILDKIT_HOST")
        return BuilderEndpoint(address, tls_from_env, "ENVTRACK_BUILDKIT_HOST")
    if context and context.builder:
        return BuilderEndpoint(context.builder, context.builder_tls or tls_from_env, f"envtrack context {context.name}")
    return BuilderEndpoint(None)


# --- the I/O shell: files on this machine ----------------------------------------------------

def _read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def config_dir(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "envtrack"


def docker_config_dir(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker"))


def store_path() -> Path:
    return config_dir() / CONTEXTS_FILE


def load_store() -> ContextStore:
    path = store_path()
    return parse_store(_read_text(path), str(path))


def save_store(store: ContextStore) -> Path:
    """Write the contexts file atomically (fsutil.write_atomic)."""
    path = store_path()
    _write_json(path, store.to_json())
    return path


def _write_json(path: Path, data: dict) -> None:
    from envtrack.fsutil import write_atomic

    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def project_context_path(project_dir: Path) -> Path:
    return project_dir / ".envtrack" / PROJECT_CONTEXT_FILE


def find_project_choice(start: Path) -> tuple[str | None, Path | None]:
    """The context a project chose: `.envtrack/context.json` in START or the nearest parent."""
    for directory in (start, *start.parents):
        path = project_context_path(directory)
        text = _read_text(path)
        if text is not None:
            try:
                name = json.loads(text).get("context")
            except (ValueError, AttributeError):
                raise EnvtrackError(f"{path}: want {{\"context\": NAME}}", exit_code=2) from None
            return (str(name) if name else None), path
    return None, None


def set_project_choice(project_dir: Path, name: str | None) -> Path:
    path = project_context_path(project_dir)
    if name is None or name == DEFAULT_CONTEXT:
        path.unlink(missing_ok=True)
    else:
        _write_json(path, {"context": name})
    return path


def resolve_for(start: Path, builder: str | None = None) -> Endpoints:
    """The Engine and builder for work at START: a project's directory (`Project` resolves its
    own once, when it is made) or, for a command without a project, the working directory.
    The one place the rules meet this machine's environment and files; nothing is remembered
    here, so two projects in one process each get their own."""
    choice, _ = find_project_choice(start)
    return resolve(os.environ, load_store(), choice, docker_config_dir(), _read_text, builder)


# --- what `envtrack context` does ------------------------------------------------------------

def _tls_from_dir(directory: Path | None, verify: bool, what: str) -> TLS | None:
    if directory is None:
        return None
    missing = [name for name in TLS_FILES if not (directory / name).is_file() and (verify or name != "ca.pem")]
    if missing:
        raise EnvtrackError(f"{what} {directory}: missing {', '.join(missing)}", exit_code=2)
    return TLS.from_dir(str(directory.resolve()), verify)


def create_context(name: str, *, engine: str | None, cert_path: Path | None, tls_verify: bool,
                   builder: str | None, builder_cert_path: Path | None, description: str) -> Path:
    """Add (or replace) context NAME in the user's contexts file; returns the file."""
    if not name or name == DEFAULT_CONTEXT or "/" in name:
        raise EnvtrackError(f"context name {name!r}: choose another (not empty, not {DEFAULT_CONTEXT!r}, no /)",
                            exit_code=2)
    if not engine and not builder:
        raise EnvtrackError("a context needs --engine, --builder or both", exit_code=2)
    context = Context(name, engine, _tls_from_dir(cert_path, tls_verify, "--cert-path"), builder,
                      _tls_from_dir(builder_cert_path, True, "--builder-cert-path"), description)
    validate_context(context, "envtrack context create")
    store = load_store()
    return save_store(ContextStore({**store.contexts, name: context}, store.current))


def use_context(name: str, project_dir: Path | None) -> Path:
    """Make NAME the user's (or PROJECT_DIR's) context; `default` clears the choice. Returns the file."""
    store = load_store()
    if name != DEFAULT_CONTEXT:
        context_by_name(store, name)
    if project_dir is not None:
        if not project_dir.is_dir():
            raise EnvtrackError(f"--project {project_dir}: no such directory", exit_code=2)
        return set_project_choice(project_dir.resolve(), name)
    return save_store(ContextStore(store.contexts, None if name == DEFAULT_CONTEXT else name))


def remove_context(name: str) -> Path:
    store = load_store()
    context_by_name(store, name)
    contexts = {key: value for key, value in store.contexts.items() if key != name}
    return save_store(ContextStore(contexts, None if store.current == name else store.current))


def context_listing() -> dict:
    """Every envtrack context plus `default`, and what this command would use (for `context ls`)."""
    store = load_store()
    in_use = resolve_for(Path.cwd())
    rows = [{"name": DEFAULT_CONTEXT, "engine": None, "builder": None, "description": "DOCKER_HOST or docker's context"}]
    rows += [{"name": c.name, "engine": c.engine, "builder": c.builder, "description": c.description}
             for c in sorted(store.contexts.values(), key=lambda c: c.name)]
    return {"contexts": rows, "context": in_use.context or DEFAULT_CONTEXT, "user_file": str(store_path()),
            "engine": in_use.engine.describe(), "builder": in_use.builder.describe()}
