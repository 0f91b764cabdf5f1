"""Names and paths derived from where build.envd lives: one project per directory.

A project's name is its identity in the Engine: the container, the image repository, the
state volume, the companion agent and the SSH host alias are all spelled from it by
`resource_names`, the one place that does so. Two directories must never share it (`~/a/app`
and `~/b/app` would drive one container and cross their journals), so a new project's name
is its directory's basename plus a short hash of the resolved path. It is written into
`.envtrack/project.json` with the directory it was made for, and kept from then on: a moved
project keeps its name (its container and images follow it), a copied one (the original
directory still holds the same identity) gets a name of its own.

Projects from before identities had the bare basename; `container/identity.py` moves what
the Engine holds for them (container, companion, images) to the new name the first time
`up`, `down` or `status` sees them.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from collections import namedtuple
from pathlib import Path

from envtrack.agent.layout import JOURNAL_FILE
from envtrack.devenv import HOST_SUFFIX
from envtrack.endpoints import EngineEndpoint, Endpoints, resolve_for
from envtrack.errors import EnvtrackError

DEFAULT_FILE = "build.envd"
BASE_IMAGE = "envtrack/base:bookworm"
STATE_DIR = ".envtrack"
IDENTITY_FILE = "project.json"   # in .envtrack/: {"name": ..., "dir": ..., "volume": ... (migrated only)}
_HASH_LENGTH = 8


class Names(namedtuple("Names", "container image_repo volume companion host_alias")):
    """Everything named after a project in the Engine and in ssh's config."""

    __slots__ = ()


def resource_names(name: str, volume: str | None = None) -> Names:
    """The one spelling of the names a project's NAME gives (VOLUME: a migrated project's old volume)."""
    return Names(f"envtrack-{name}", f"envtrack/{name}", volume or f"envtrack-{name}-state",
                 f"envtrack-{name}-agent", f"{name}{HOST_SUFFIX}")


def envd_path(path: str | Path) -> Path:
    """The envd file PATH names (a file, or a directory holding build.envd), absolute and
    resolved: the one path a command reads it by. A one-line error when there is none."""
    text = str(path)
    if Path(text).is_dir():
        text = posixpath.join(text, DEFAULT_FILE)
    if not Path(text).is_file():
        raise EnvtrackError(f"{text}: no such envd file", exit_code=2)
    return Path(text).resolve()


def display_path(path: str | Path) -> str:
    """How messages name the file at PATH (`FILE:LINE:COL`): relative to the working directory
    when it is below it, else absolute. The one place that spells a path for the user."""
    absolute = os.path.abspath(path)
    try:
        relative = os.path.relpath(absolute)
    except ValueError:
        return absolute
    return absolute if relative == ".." or relative.startswith("../") else relative


def legacy_name(directory: Path) -> str:
    """The name every project had before identities: the basename alone (shared by same-named directories)."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", directory.name.lower()).strip("-._")
    return slug or "project"


def fresh_name(directory: Path) -> str:
    """Basename plus a short hash of the resolved path: Docker-safe and unique per directory."""
    import hashlib   # only for a new identity: OpenSSL's load is a tenth of `exec`'s start-up

    slug = re.sub(r"[^a-z0-9]+", "-", directory.name.lower()).strip("-")[:40].strip("-") or "project"
    digest = hashlib.sha256(str(directory).encode("utf-8", "surrogateescape")).hexdigest()[:_HASH_LENGTH]
    return f"{slug}-{digest}"


def read_identity(state_dir: Path) -> dict | None:
    try:
        data = json.loads((state_dir / IDENTITY_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not data["name"]:
        return None
    return data


def write_identity(state_dir: Path, name: str, directory: Path, volume: str | None = None) -> None:
    """Best effort: a read-only project still gets the same name next time (it is derived from the path)."""
    from envtrack.agent.layout import STATE_DIR_MODE, STATE_FILE_MODE
    from envtrack.fsutil import write_atomic

    data = {"name": name, "dir": str(directory), **({"volume": volume} if volume else {})}
    try:
        state_dir.mkdir(mode=STATE_DIR_MODE, parents=True, exist_ok=True)
        write_atomic(state_dir / IDENTITY_FILE, json.dumps(data, sort_keys=True) + "\n", mode=STATE_FILE_MODE)
    except OSError:
        pass


def identity(directory: Path) -> tuple[str, str | None]:
    """(name, volume override or None) of the project in DIRECTORY (resolved), recording a new one."""
    state_dir = directory / STATE_DIR
    found = read_identity(state_dir)
    if found is not None:
        recorded = Path(str(found.get("dir") or directory))
        if recorded == directory:
            return found["name"], found.get("volume")
        original = read_identity(recorded / STATE_DIR)
        if original is None or original["name"] != found["name"]:   # moved: the name follows it
            write_identity(state_dir, found["name"], directory, found.get("volume"))
            return found["name"], found.get("volume")
        # copied: the original still holds this identity, so the copy needs its own
    name = fresh_name(directory)
    if state_dir.is_dir():   # a project that has state keeps its name from now on
        write_identity(state_dir, name, directory)
    return name, None


class Project(namedtuple("Project", "envd_file name volume endpoints")):  # not a dataclass: see errors.Position
    """A project: envd_file is the absolute Path of its build.envd, name its identity
    (`identity()` of its directory when not given), volume the state volume a migrated project
    keeps (None: the usual one), endpoints the Engine and builder it uses (`resolve_for` its
    directory when not given): resolved once, here, and handed to whatever dials for it."""

    __slots__ = ()

    def __new__(cls, envd_file: Path, name: str | None = None, volume: str | None = None,
                endpoints: Endpoints | None = None) -> "Project":
        directory = Path(envd_file).parent
        if name is None:
            name, volume = identity(directory)
        if endpoints is None:
            endpoints = resolve_for(directory)
        return super().__new__(cls, Path(envd_file), name, volume, endpoints)

    @classmethod
    def find(cls, file: str | Path | None = None, builder: str | None = None) -> "Project":
        """The project for FILE (a build.envd or a directory holding one; default: cwd);
        BUILDER: a `--builder` given for it."""
        envd_file = envd_path(file or os.getcwd())
        return cls(envd_file, *identity(envd_file.parent), resolve_for(envd_file.parent, builder))

    @classmethod
    def at(cls, directory: Path) -> "Project":
        """The project of DIRECTORY even when its build.envd is gone (`down` still removes its container)."""
        directory = directory.resolve()
        return cls(directory / DEFAULT_FILE, *identity(directory))

    @property
    def engine(self) -> EngineEndpoint:
        """The Engine this project's container, images and builds live on."""
        return self.endpoints.engine

    @property
    def dir(self) -> Path:
        return self.envd_file.parent

    @property
    def names(self) -> Names:
        return resource_names(self.name, self.volume)

    @property
    def legacy_name(self) -> str:
        return legacy_name(self.dir)

    @property
    def state_dir(self) -> Path:
        """Host directory for the journal, backups and locks: `.envtrack/` beside build.envd."""
        return self.dir / STATE_DIR

    def require_writable_state(self, command: str) -> None:
        """Refuse early, in one line, when `.envtrack/` cannot be created or written
        (a read-only checkout): COMMAND would otherwise fail halfway."""
        import tempfile

        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.state_dir):
                pass
        except OSError as error:
            reason = error.strerror or str(error)
            raise EnvtrackError(f"{command} needs to write {self.state_dir} ({reason}); "
                                f"run it where the project directory is writable") from None
        if read_identity(self.state_dir) is None:
            write_identity(self.state_dir, self.name, self.dir, self.volume)

    @property
    def journal_path(self) -> Path:
        return self.state_dir / JOURNAL_FILE

    @property
    def backups_dir(self) -> Path:
        return self.state_dir / "backups"

    @property
    def image_repo(self) -> str:
        return self.names.image_repo

    @property
    def container_name(self) -> str:
        return self.names.container


def open_project(file: str | Path | None = None, *, envd_optional: bool = False,
                 builder: str | None = None) -> Project:
    """The project a command acts on (FILE, default the working directory): found, with the
    Engine and builder it uses (BUILDER: the command's `--builder`), its journal checked.

    Commands call this once, at their start, and pass the project (or its endpoints) to what
    dials. A journal from a newer envtrack is refused here, before the command writes anything.
    ENVD_OPTIONAL: a directory whose build.envd is gone is still its project (`down` removes
    its container).
    """
    from envtrack.journal.schema import newer_schema

    directory = Path(file or ".")
    if envd_optional and directory.is_dir() and not (directory / DEFAULT_FILE).exists():
        project = Project.at(directory)
    else:
        project = Project.find(file, builder)
    refusal = newer_schema(project.journal_path)
    if refusal:
        raise EnvtrackError(refusal)
    return project
