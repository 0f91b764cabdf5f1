"""Names and paths derived from where build.envd lives: one project per directory."""

from __future__ import annotations

import re
from collections import namedtuple
from pathlib import Path

from envtrack.agent.layout import JOURNAL_FILE
from envtrack.errors import EnvtrackError

DEFAULT_FILE = "build.envd"
BASE_IMAGE = "envtrack/base:bookworm"


class Project(namedtuple("Project", "envd_file")):  # not a dataclass: see envtrack.errors.Position
    """A project: envd_file is the absolute Path of its build.envd."""

    __slots__ = ()

    @classmethod
    def find(cls, file: str | Path | None = None) -> "Project":
        """The project for FILE (a build.envd or a directory holding one; default: cwd)."""
        path = Path(file) if file else Path.cwd()
        if path.is_dir():
            path = path / DEFAULT_FILE
        if not path.is_file():
            raise EnvtrackError(f"{path}: no such envd file", exit_code=2)
        project = cls(path.resolve())
        # The project a command names (-f DIR) picks its envtrack context, not the working directory.
        from envtrack.endpoints import use_project_dir

        use_project_dir(project.dir)
        return project

    @property
    def dir(self) -> Path:
        return self.envd_file.parent

    @property
    def name(self) -> str:
        """Docker-safe project name from the directory name."""
        slug = re.sub(r"[^a-z0-9._-]+", "-", self.dir.name.lower()).strip("-._")
        return slug or "project"

    @property
    def state_dir(self) -> Path:
        """Host directory for the journal, backups and locks: `.envtrack/` beside build.envd."""
        return self.dir / ".envtrack"

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

    @property
    def journal_path(self) -> Path:
        return self.state_dir / JOURNAL_FILE

    @property
    def backups_dir(self) -> Path:
        return self.state_dir / "backups"

    @property
    def image_repo(self) -> str:
        return f"envtrack/{self.name}"

    @property
    def container_name(self) -> str:
        return f"envtrack-{self.name}"
