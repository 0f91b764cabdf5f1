"""Projects from before identities: what the Engine holds under the bare basename moves to the
project's own name (envtrack.project), the first time `up`, `down` or `status` sees it.

Before, `~/a/app` and `~/b/app` were both `app`: one container, one image repository. The
legacy container is taken over only by the directory it belongs to (its label, its bind-mounted
`.envtrack/`, or on a remote Engine the container the local journal was recorded in); it is
renamed, not recreated, so the agent, its journal and the container's baseline carry on.
The companion agent is renamed with it, the last build's image is tagged under the new
repository (the build stamp follows, so nothing rebuilds), and a remote state volume keeps
its old name in `.envtrack/project.json`.
"""

from __future__ import annotations

import json

from envtrack.agent.layout import STATE_MOUNT
from envtrack.container.spec import PROJECT_DIR_LABEL
from envtrack.project import Project, resource_names, write_identity


def adopt_legacy(project: Project) -> Project:
    """PROJECT, after moving its pre-identity container (if it has one) to PROJECT's names."""
    from envtrack.engine import api

    legacy = resource_names(project.legacy_name)
    if legacy.container == project.container_name or api.inspect_container(project.engine, project.container_name) is not None:
        return project
    document = api.inspect_container(project.engine, legacy.container)
    if document is None or not belongs(document, project):
        return project
    _rename(project, document["Id"], project.container_name)
    companion = api.inspect_container(project.engine, legacy.companion)
    if companion is not None:
        _rename(project, companion["Id"], project.names.companion)
    volume = next((m.get("Name") for m in document.get("Mounts") or []
                   if m.get("Type") == "volume" and m.get("Destination") == STATE_MOUNT), None)
    if volume:
        project = project._replace(volume=volume)
    write_identity(project.state_dir, project.name, project.dir, project.volume)
    _move_stamped_image(project, legacy.image_repo)
    return project


def belongs(document: dict, project: Project) -> bool:
    """Whether the container DOCUMENT describes is PROJECT's (not a same-named directory's)."""
    labels = (document.get("Config") or {}).get("Labels") or {}
    if PROJECT_DIR_LABEL in labels:
        return labels[PROJECT_DIR_LABEL] == str(project.dir)
    for mount in document.get("Mounts") or []:
        if mount.get("Destination") == STATE_MOUNT and mount.get("Type") == "bind":
            return mount.get("Source") == str(project.state_dir)
    hostname = (document.get("Config") or {}).get("Hostname")
    return bool(hostname) and _journaled_container(project) == hostname


def _journaled_container(project: Project) -> str | None:
    """The container the local journal (a remote Engine's fetched copy) was recorded in."""
    from envtrack.journal import db as journal_db

    try:
        return journal_db.query(project.journal_path, lambda db: journal_db.get_meta(db, "container"), None)
    except journal_db.JournalError:
        return None   # an unreadable journal proves nothing


def _rename(project: Project, container_id: str, name: str) -> None:
    from envtrack.engine import api
    from envtrack.errors import EnvtrackError

    status, body = api.request(project.engine, "POST", f"/containers/{container_id}/rename", {"name": name})
    if status >= 300:
        raise EnvtrackError(f"cannot rename container {container_id[:12]} to {name}: {body}")


def _move_stamped_image(project: Project, legacy_repo: str) -> None:
    """Tag the last build under the new repository and point the build stamp at it."""
    from envtrack.engine import api
    from envtrack.fsutil import write_atomic
    from envtrack.solve import stamp as build_stamp

    recorded = build_stamp.read_stamp(project.state_dir)
    if recorded is None or recorded["project"] != build_stamp.owner(project.envd_file, project.legacy_name):
        return
    image = str(recorded["result"].get("image") or "")
    repo, _, tag = image.rpartition(":")
    if repo != legacy_repo or api.inspect_image(project.engine, image) is None:
        return
    api.tag_image(project.engine, image, project.image_repo, tag)
    api.tag_image(project.engine, image, project.image_repo, "latest")
    recorded["project"] = build_stamp.owner(project.envd_file, project.name)
    recorded["result"]["image"] = f"{project.image_repo}:{tag}"
    try:
        write_atomic(build_stamp.stamp_path(project.state_dir), json.dumps(recorded, sort_keys=True))
    except OSError:
        pass  # the next build writes it again

