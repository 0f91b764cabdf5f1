"""The form a requested package is written in, so that the rebuild installs the same thing. Pure.

From the journal's net change: what the user typed (the agent's `asked`: extras, markers),
where the installer took it from (`source`: a VCS commit, a URL and its hash, a path), and the
environment it went into. A path inside the project is installed from the project at build
time (`./vendor/mylib`, `--editable=./vendor/editlib`: the project is mounted where `up` mounts
it, so an editable install stays live against the working copy). What no build can reproduce
gets a sentence: what it is, why, and what would make it reproducible.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from envtrack.agent.layout import WORKSPACE
from envtrack.llb.conda import CHANNEL_ALIAS, ENV_NAME as CONDA_ENV
from envtrack.llb.scripts import VENV
from envtrack.records import pipx_app
from envtrack.requirements import canonical_name, format_requirement, parse_requirement
from envtrack.sync.changes import NetChange

VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+")
MASK = "****"   # what envtrack.records.redact leaves of a credential
# The environments build.envd's install calls fill: install.python()'s venv, or the image's own
# Python (its system and user sites).
MAIN_PIP_ENV = re.compile(r"^(?:%s/|/usr/|/root/\.local/lib/|/home/[^/]+/\.local/lib/)" % re.escape(VENV))


def pip_entry(change: NetChange, pin: str, head: str | None = None, tail: str = "") -> str:
    """The install-call entry for pip CHANGE (HEAD/TAIL: the declaration being re-pinned)."""
    path = project_path(change)
    if path is not None:
        return f"--editable={path}" if _detail(change).get("editable") else path
    asked = parse_requirement("pip", str(_detail(change).get("asked") or ""))
    if asked is not None and asked.name == change.name:
        head, tail = head or asked.head, tail or asked.tail   # extras and markers as the user typed them
    return format_requirement(head or change.name, "pip", change.version or "", pin, url=pip_url(change), tail=tail)


# A pipx app is rebuilt where every user finds it (`pipx install --global`'s places, spelled so any
# pipx version takes them): the user's own PIPX_HOME is in a home the build does not create.
PIPX = "PIPX_HOME=/opt/pipx PIPX_BIN_DIR=/usr/local/bin pipx"


def pipx_command(change: NetChange, pin: str) -> str | None:
    """The `pipx install APP==V` (or `pipx inject APP PKG==V`) that rebuilds a package of a pipx
    app's venv; None when CHANGE is in no pipx venv."""
    app = pipx_app(change.env)
    if not app:
        return None
    entry = shlex.quote(pip_entry(change, pin))
    if canonical_name("pip", app) == change.name:
        return f"{PIPX} install {entry}"
    return f"{PIPX} inject {shlex.quote(app)} {entry}"


def conda_entry(change: NetChange, pin: str, head: str | None = None) -> str:
    channel = conda_channel(change)
    return format_requirement(head or (f"{channel}::{change.name}" if channel else change.name), "conda",
                              change.version or "", pin)


def pip_url(change: NetChange) -> str | None:
    """`git+https://host/repo@COMMIT` for a VCS install, `https://host/x.whl#sha256=...` for a
    direct URL; None for an index install."""
    if not change.source or MASK in change.source:
        return None
    if _is_vcs(change):
        return change.source if change.source.startswith(VCS_PREFIXES) else f"{_detail(change).get('vcs', 'git')}+{change.source}"
    if change.source.startswith(("http://", "https://")):
        digest = _detail(change).get("hash")
        return f"{change.source}#{digest}" if digest and "#" not in change.source else change.source
    return None


vcs_url = pip_url   # the name the journal's first VCS rows were written against


def project_path(change: NetChange) -> str | None:
    """`./vendor/mylib` for a pip install from a directory inside the project, else None."""
    local = _local_path(change)
    if local is None or not (local == WORKSPACE or local.startswith(WORKSPACE + "/")):
        return None
    relative = posixpath.relpath(local, WORKSPACE)
    return "." if relative == "." else f"./{relative}"


def _local_path(change: NetChange) -> str | None:
    if not change.source.startswith("file:"):
        return None
    return posixpath.normpath(unquote(urlsplit(change.source).path))


def conda_channel(change: NetChange) -> str | None:
    """The channel to name in `channel::name` for a conda install: the one it came from, unless
    it is the default one (a URL channel goes into the call's `channel=` list instead)."""
    typed = _typed_channel(change)
    if typed is not None:
        return None if _is_url(typed) or typed in ("defaults", "pkgs/main") else typed
    channel = change.source
    if change.manager != "conda" or not channel or channel in ("defaults", "pkgs/main"):
        return None
    return channel if all(c not in channel for c in "/:") else None


def conda_channel_url(change: NetChange) -> str | None:
    """The URL channel a conda package came from (`conda install -c URL pkg`), to write into the
    new call's `channel=[...]`; None for a named channel or the configured ones."""
    if change.manager != "conda" or MASK in change.source:
        return None
    typed = _typed_channel(change)
    if typed is not None:
        return typed if _is_url(typed) else None
    source = change.source
    # No command line was seen: a URL outside conda's channel alias is still where it came from.
    if _is_url(source) and not source.startswith(CHANNEL_ALIAS):
        return source
    return None


def _typed_channel(change: NetChange) -> str | None:
    """The `-c` channel of the command line that the package came from (its record names its URL)."""
    source = change.source.rstrip("/")
    for channel in _detail(change).get("channels") or []:
        channel = str(channel).rstrip("/")
        if _is_url(channel) and (source == channel or source.startswith(channel + "/")):
            return channel
        if not _is_url(channel) and (source == channel or source.endswith("/" + channel)
                                     or ("/" + channel + "/") in source + "/"):
            return channel
    return None


def _is_url(channel: str) -> bool:
    return "://" in channel


def unreproducible(change: NetChange) -> str | None:
    """Why a build cannot reproduce CHANGE and what would make it reproducible; None when it can."""
    detail = _detail(change)
    if change.manager == "apt" and detail.get("deb"):
        return (f"installed from a local .deb ({detail['deb']}) that no apt source has; put the file in the project "
                f"and install it with io.copy(...) and run(commands=[\"apt-get install -y ./FILE.deb\"]), or serve "
                f"it from an apt repository named by config.apt_source(...)")
    if change.manager == "pip":
        return _pip_unreproducible(change, detail)
    if change.manager == "conda" and MASK in change.source:
        return _redacted(change.source, "config.conda_channel(...)")
    return None


def _other_conda_env(env: str) -> bool:
    """A named conda environment other than envd's (`/opt/conda/envs/ml`)."""
    parent, name = posixpath.split(env.rstrip("/"))
    return posixpath.basename(parent) == "envs" and name != CONDA_ENV


def _pip_unreproducible(change: NetChange, detail) -> str | None:
    if not _in_main_env(change.env):
        if change.env.startswith(WORKSPACE + "/"):
            return (f"installed into an environment inside the project ({change.env}); the project keeps it, and "
                    "its own files (pyproject.toml, uv.lock) say how to recreate it")
        return (f"installed into another environment ({change.env}) that build.envd does not create; create that "
                "environment in build.envd (run(commands=[...])) and install it there")
    if MASK in change.source:
        return _redacted(change.source, "config.pip_index(...)")
    local = _local_path(change)
    if local is not None and project_path(change) is None:
        what = "editable install of" if detail.get("editable") else "installed from a local path"
        return (f"{what} {local}, outside the project directory {WORKSPACE}; move it into the project "
                "(or publish it to a package index) and install it from there")
    if change.source and local is None and pip_url(change) is None:
        return f"installed from an unrecognised source ({change.source}); install it by name or by URL"
    return None


def _redacted(source: str, where: str) -> str:
    return (f"installed from a URL whose credentials were redacted ({source}); give the credentials to the "
            f"installer's configuration ({where} or a netrc) and install it by name")


def fills_main_env(change: NetChange) -> bool:
    """Whether CHANGE is in an environment build.envd's install calls fill (apt's, envd's conda
    environment, install.python's venv or the image's own Python)."""
    if change.manager == "pip":
        return _in_main_env(change.env) and not pipx_app(change.env)
    if change.manager == "conda":
        return not _other_conda_env(change.env)
    return True


def _in_main_env(env: str) -> bool:
    return not env or MAIN_PIP_ENV.match(env) is not None


def _is_vcs(change: NetChange) -> bool:
    return change.source.startswith(VCS_PREFIXES) or bool(_detail(change).get("vcs"))


def _detail(change: NetChange):
    return change.detail or {}


# --------------------------------------------------------------------------- pipx calls already written

_PIPX_WRITTEN = re.compile(r"^%s (?:install|inject (?P<app>\S+))(?: --force)? (?P<spec>\S+)$" % re.escape(PIPX))


def pipx_written(command: str) -> tuple[str, str] | None:
    """(app, package) of a `pipx install`/`inject` command in the form pipx_command writes, else None."""
    match = _PIPX_WRITTEN.match(command.strip())
    if match is None:
        return None
    try:
        spec = shlex.split(match.group("spec"))[0]
        app = shlex.split(match.group("app"))[0] if match.group("app") else None
    except (ValueError, IndexError):
        return None
    requirement = parse_requirement("pip", spec)
    if requirement is None:
        return None
    return canonical_name("pip", app) if app else requirement.name, requirement.name


def pipx_key(change: NetChange) -> tuple[str, str] | None:
    """(app, package) of a package in a pipx app's venv, as pipx_written names its command."""
    app = pipx_app(change.env)
    return (canonical_name("pip", app), change.name) if app else None


def pipx_forced(change: NetChange, pin: str) -> str | None:
    """The command that re-pins an app (or an injected package) a written command installs at another version."""
    command = pipx_command(change, pin)
    return command and command.replace(" install ", " install --force ", 1).replace(" inject ", " inject --force ", 1)


def pipx_removal(change: NetChange) -> str:
    """`pipx uninstall APP`, or `pipx uninject APP PKG` for a package injected into it."""
    app, name = pipx_key(change) or ("", change.name)
    return f"{PIPX} uninstall {shlex.quote(app)}" if app == name else f"{PIPX} uninject {shlex.quote(app)} {shlex.quote(name)}"


# --------------------------------------------------------------------------- another environment

@dataclass(frozen=True)
class OtherEnv:
    """An environment other than the ones build.envd's install calls fill, that a run can recreate:
    a venv (PREFIX, made by PYTHON) or a named conda environment."""

    kind: str            # "venv" | "conda"
    where: str           # the venv's prefix, or the conda environment's name
    python: str = ""     # venv: the interpreter it was created from
    system_site: bool = False

    @property
    def creates(self) -> str:
        if self.kind == "venv":
            flag = " --system-site-packages" if self.system_site else ""
            return f"{self.python} -m venv{flag} {self.where}"
        return f"conda create -y -n {self.where}"

    def creation(self, entries: list[str], channels: list[str] = ()) -> list[str]:
        """The commands that make this environment with ENTRIES in it."""
        if self.kind == "venv":
            return [self.creates, self.installs(entries)]
        return [f"{self.creates}{_channel_words(channels)} {' '.join(shlex.quote(e) for e in entries)}"]

    def installs(self, entries: list[str], channels: list[str] = ()) -> str:
        words = " ".join(shlex.quote(e) for e in entries)
        if self.kind == "venv":
            return f"{self.where}/bin/python -m pip install {words}"
        return f"conda install -y -n {self.where}{_channel_words(channels)} {words}"

    def removes(self, names: list[str]) -> str:
        words = " ".join(shlex.quote(n) for n in names)
        if self.kind == "venv":
            return f"{self.where}/bin/python -m pip uninstall -y {words}"
        return f"conda remove -y -n {self.where} {words}"

    def describe(self) -> str:
        return f"venv {self.where} (made by {self.python})" if self.kind == "venv" else f"conda environment {self.where}"


def _channel_words(channels) -> str:
    return "".join(f" -c {shlex.quote(c)}" for c in channels)


_VENV_SITE = re.compile(r"^(?P<prefix>/.+?)/lib/python3[^/]*/site-packages$")


def other_env(change: NetChange) -> OtherEnv | None:
    """The other environment CHANGE is in, when the journal says how to recreate it; else None."""
    if change.manager == "conda" and _other_conda_env(change.env):
        return OtherEnv("conda", posixpath.basename(change.env.rstrip("/")))
    if change.manager != "pip" or _in_main_env(change.env) or pipx_app(change.env):
        return None
    if change.env.startswith(WORKSPACE + "/"):
        return None   # the project keeps it (see _pip_unreproducible)
    match = _VENV_SITE.match(change.env)
    python = str(_detail(change).get("python") or "")
    if match is None or not python.startswith("/"):
        return None
    return OtherEnv("venv", match.group("prefix"), python, bool(_detail(change).get("system_site")))


def other_env_entry(change: NetChange, pin: str) -> str:
    """CHANGE's spec in its environment's install command (pinned like any other entry)."""
    if change.manager == "pip":
        return pip_entry(change, pin)
    return conda_entry(change, pin)


def typed_url_channel(change: NetChange) -> str | None:
    """The URL channel the command line named for a conda CHANGE (never a mirror the record names)."""
    typed = _typed_channel(change)
    return typed if typed is not None and _is_url(typed) else None
