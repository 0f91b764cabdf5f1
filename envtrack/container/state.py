"""Where the project's agent state lives, and how the host reads it.

A local Engine bind-mounts `.envtrack/` beside build.envd: the host reads the files there.
A remote Engine keeps them in a named volume on the engine host (`spec.state_volume`); the
host reads them through the Engine API: small files by `cat` in the running container, the
journal as a consistent copy (SQLite's backup API inside the container, or the files of a
stopped or removed container's volume through a never-started helper container), fetched
with the archive endpoint into `.envtrack/journal.db`. The local copy keeps sync's own
bookmark table, which only this machine writes.
"""

from __future__ import annotations

import os
from pathlib import Path

from envtrack.agent.layout import JOURNAL_FILE, STATE_MOUNT
from envtrack.errors import EnvtrackError
from envtrack.project import BASE_IMAGE, Project

EXPORT_FILE = ".journal-export.db"   # in the state volume, next to the journal



def read_state_text(project: Project, container, name: str) -> str | None:
    """The state file NAME, or None when it is not there (or the remote container is not running)."""
    if project.engine.is_local:
        try:
            return (project.state_dir / name).read_text(errors="replace")
        except OSError:
            return None
    if container is None or container.status != "running":
        return None
    from envtrack.engine import api

    code, output = api.exec_run(project.engine, container.id, ["cat", f"{STATE_MOUNT}/{name}"])  # an SDK container or ContainerInfo
    return output.decode(errors="replace") if code == 0 else None


def journal_for(project: Project) -> Path:
    """The journal to read here: the bind-mounted file, or a fresh copy of the remote one."""
    if not project.engine.is_local:
        fetch_journal(project)
    return project.journal_path


def recorded_changes(project: Project, since: str | None = None) -> list:
    """`envtrack log`: the journal's changes (typed rows, oldest first) after change ID SINCE, or
    at/after the ISO time SINCE; a bad SINCE is bad input (exit 2), a journal that cannot be read one line."""
    from envtrack.journal.db import JournalError
    from envtrack.journal.history import SinceError, load_changes

    try:
        return load_changes(journal_for(project), since)
    except JournalError as error:  # the journal package ships into containers: no EnvtrackError there
        raise EnvtrackError(str(error), exit_code=2 if isinstance(error, SinceError) else 1) from None


def fetch_journal(project: Project) -> bool:
    """Copy the remote journal to `.envtrack/journal.db`; False when the engine host has none yet."""
    from envtrack.container.engine import find_container
    from envtrack.engine.docker import docker_client

    client = docker_client(project.engine)
    container = find_container(client, project.container_name)
    import tempfile  # here and below (sqlite3, the spec): only remote Engines need them; `exec` and `log` start faster

    with tempfile.TemporaryDirectory(prefix="envtrack-journal-") as scratch:
        if container is not None and container.status == "running":
            fetched = _export_live(container, Path(scratch))
        else:
            fetched = _copy_files(client, project, container, Path(scratch))
        if fetched is None:
            return False
        _install(fetched, project.journal_path)
    return True


def _export_live(container, scratch: Path) -> Path | None:
    export = f"{STATE_MOUNT}/{EXPORT_FILE}"
    script = ('test -f {j} || exit 3; for p in /usr/bin/python3 /usr/local/bin/python3 "$(command -v python3)"; do '
              '[ -x "$p" ] && exec "$p" -c "$0" {j} {e}; done; exit 127').format(j=f"{STATE_MOUNT}/{JOURNAL_FILE}",
                                                                             e=export)
    from envtrack.journal.db import COPY_SCRIPT   # run by the container's own python3 (the agent needs one)

    code, output = container.exec_run(["sh", "-c", script, COPY_SCRIPT], demux=False)
    if code == 3:
        return None
    if code != 0:
        text = (output or b"").decode(errors="replace").strip().splitlines()
        raise EnvtrackError(f"cannot copy the journal out of {container.name}: {text[-1] if text else code}")
    try:
        names = _extract(container, export, scratch)
    finally:
        container.exec_run(["rm", "-f", export])
    return scratch / names[EXPORT_FILE] if EXPORT_FILE in names else None


def _copy_files(client, project: Project, container, scratch: Path) -> Path | None:
    """No agent writes: the journal and its WAL as they are, from the container or its volume."""
    import docker

    from envtrack.container.spec import state_volume

    helper = None
    if container is None:
        try:
            client.volumes.get(state_volume(project))
        except docker.errors.NotFound:
            return None
        helper = client.containers.create(_helper_image(client, project), command=["true"],
                                          volumes={state_volume(project): {"bind": STATE_MOUNT, "mode": "ro"}})
    try:
        names = _extract(helper or container, STATE_MOUNT, scratch)
    finally:
        if helper is not None:
            helper.remove(force=True)
    if JOURNAL_FILE not in names:
        return None
    journal = scratch / names[JOURNAL_FILE]
    for suffix in ("-wal", "-shm"):
        if JOURNAL_FILE + suffix in names:
            os.replace(scratch / names[JOURNAL_FILE + suffix], journal.with_name(journal.name + suffix))
    return journal


def _helper_image(client, project: Project) -> str:
    import docker

    from envtrack.container.spec import state_volume

    for image in (BASE_IMAGE, f"{project.image_repo}:latest"):
        try:
            client.images.get(image)
            return image
        except docker.errors.ImageNotFound:
            continue
    raise EnvtrackError(f"no image on the engine host to read the volume {state_volume(project)} with",
                        hint="run `envtrack engine setup` there, or `envtrack up` first")


def _extract(container, path: str, scratch: Path) -> dict[str, str]:
    """GET the archive of PATH; returns {file name: path under SCRATCH} for its regular files."""
    import docker

    try:
        stream, _ = container.get_archive(path)
        data = b"".join(stream)
    except docker.errors.NotFound:
        return {}
    except docker.errors.APIError as error:
        raise EnvtrackError(f"cannot read {path} in {container.name}: {error.explanation or error}") from None
    import io
    import shutil
    import tarfile

    found = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            if member.isfile() and "/" not in member.name.split("/", 1)[-1]:
                name = Path(member.name).name
                target = scratch / f"fetched-{len(found)}"
                with tar.extractfile(member) as source, open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink)
                found[name] = target.name
    return found


def _install(fetched: Path, journal: Path) -> None:
    """Make FETCHED the local journal: one consistent file, this machine's own tables carried over."""
    from envtrack.journal.db import copy_consistent

    journal.parent.mkdir(parents=True, exist_ok=True)
    staged = journal.with_name(f".{journal.name}.{os.getpid()}.fetched.tmp")   # fsutil's orphan pattern
    staged.unlink(missing_ok=True)
    copy_consistent(fetched, staged)
    if journal.exists():
        _carry_bookmarks(journal, staged)
    for suffix in ("-wal", "-shm"):   # a stale WAL beside the replaced file would corrupt it
        journal.with_name(journal.name + suffix).unlink(missing_ok=True)
    os.replace(staged, journal)


def _carry_bookmarks(old: Path, staged: Path) -> None:
    """Sync's bookmarks are written on this machine only: the fetched copy keeps the old file's
    (opening it through the journal's owner also migrates a copy an older agent wrote)."""
    from contextlib import closing

    from envtrack.journal import db as journal_db

    try:
        with closing(journal_db.open_journal(old)) as previous:
            marks = journal_db.read_bookmarks(previous)
        with closing(journal_db.open_journal(staged)) as target:
            for envd_file, change_id, change_time in marks:
                journal_db.write_bookmark(target, envd_file, change_id, change_time)
    except journal_db.JournalError as error:
        raise EnvtrackError(str(error)) from None
