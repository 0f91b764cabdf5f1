"""Teammates through a registry: `envtrack push`, `envtrack pull`, `envtrack up --from`.

What is pushed is the environment as it is: the running container committed (runtime
installs included), or, with none running, the built image. Its build.envd and lock travel
as image labels (`envtrack.envd`, `envtrack.lock`: the files' text), so a teammate's
`envtrack pull REF` gets both files and `envtrack diff REF .` compares without running
anything. The reference last pushed or pulled is remembered in `.envtrack/remote.json`, so
a later `push` needs no argument.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from envtrack.engine import api, registry
from envtrack.errors import EnvtrackError
from envtrack.fsutil import write_atomic
from envtrack.project import DEFAULT_FILE, Project
from envtrack.snapshot.lock import DEFAULT_LOCK, ENVD_LABEL, LOCK_LABEL, Lock, render_lock

REMOTE_FILE = "remote.json"
IMAGE_CONFIG_KEYS = ("Cmd", "Entrypoint", "Env", "WorkingDir", "ExposedPorts")


@dataclass(frozen=True)
class Pushed:
    ref: str
    digest: str
    source: str   # what was pushed: the running container or the built image


def remembered_ref(project: Project) -> str | None:
    try:
        return json.loads((project.state_dir / REMOTE_FILE).read_text()).get("ref")
    except (OSError, ValueError, AttributeError):
        return None


def remember_ref(project: Project, ref: str) -> None:
    from envtrack.statedir import ensure_state_dir

    ensure_state_dir(project.state_dir)
    write_atomic(project.state_dir / REMOTE_FILE, json.dumps({"ref": ref}) + "\n", 0o600)


def push_environment(project: Project, ref: str | None, *, progress: str = "auto", on_line=None) -> Pushed:
    """Commit PROJECT's environment with its build.envd and lock as labels, tag it REF, push it;
    under the project lock, so `up` cannot interleave."""
    ref = ref or remembered_ref(project)
    if not ref:
        raise EnvtrackError("name the image to push: `envtrack push REGISTRY/NAME:TAG`", exit_code=2)
    from envtrack.statedir import project_lock

    with project_lock(project.state_dir, "push"):
        return _push(project, ref, progress, on_line)


def _push(project: Project, ref: str, progress: str, on_line) -> Pushed:  # noqa: ANN001 - on_line: (str) -> None
    from envtrack.container.engine import inspect

    container = inspect(project.engine, project.container_name)
    if container is not None and container.status == "running":
        from envtrack.snapshot.service import current_lock

        lock = current_lock(project, project.dir / DEFAULT_LOCK)
        _commit(container.id, container.image, project, lock, ref)
        source = f"the running container {project.container_name}"
    else:
        from envtrack.solve.service import build_project

        built = build_project(project, progress=progress)
        lock = _image_lock(project, built.image_id)
        created = _create(project, built.image)
        try:
            _commit(created, built.image, project, lock, ref)
        finally:
            api.remove_container(project.engine, created)
        source = f"the image {built.image} (no environment is running)"
    digest = registry.push(project.engine, ref, on_line)
    remember_ref(project, ref)
    return Pushed(ref, digest, source)


def _image_lock(project: Project, image_id: str) -> Lock:
    import hashlib

    from envtrack.llb.image_config import images_of
    from envtrack.snapshot.lock import ImageRef
    from envtrack.snapshot.sources import Engine, inventory_of_image

    found = api.inspect_image(project.engine, image_id) or {}
    return Lock(inventory_of_image(Engine(project.engine), image_id, image_id), image=ImageRef(image_id, image_id),
                envd_file=DEFAULT_FILE, envd_sha256=hashlib.sha256(project.envd_file.read_bytes()).hexdigest(),
                images=images_of((found.get("Config") or {}).get("Labels") or {}))


def _create(project: Project, image: str) -> str:
    status, body = api.request(project.engine, "POST", "/containers/create",
                               body={"Image": image, "Cmd": ["true"], "Labels": {"envtrack.role": "push"}})
    if status >= 300 or not isinstance(body, dict):
        raise EnvtrackError(f"cannot create a container of {image} to commit: {body}")
    return body["Id"]


def _commit(container: str, image: str, project: Project, lock: Lock, ref: str) -> None:
    """The container's filesystem as REF, with IMAGE's own config (not the container's runtime
    settings) and the two files as labels."""
    config = (api.inspect_image(project.engine, image) or {}).get("Config") or {}
    labels = {**(config.get("Labels") or {}), ENVD_LABEL: project.envd_file.read_text(encoding="utf-8"),
              LOCK_LABEL: render_lock(lock)}
    body = {key: config[key] for key in IMAGE_CONFIG_KEYS if config.get(key)} | {"Labels": labels}
    repo, tag = registry.split_ref(ref)
    status, answer = api.request(project.engine, "POST", "/commit", {"container": container, "repo": repo, "tag": tag},
                                 body=body)
    if status >= 300:
        raise EnvtrackError(f"cannot commit {project.container_name} as {ref}: {answer}")


@dataclass(frozen=True)
class Pulled:
    ref: str
    image_id: str
    written: tuple[str, ...]   # files written into the project directory
    kept: tuple[str, ...]      # files that were there already and differ from the pushed ones


def up_from(file: str | None, ref: str, *, on_line=None, **up_options):  # noqa: ANN001, ANN201 - an UpReport
    """`envtrack up --from REF`: the teammate's build.envd and lock into FILE's directory first
    (the project is theirs from here on), then `up` with REF's image (container.service.up_project)."""
    from envtrack.container.service import up_project
    from envtrack.project import open_project

    pull_environment(open_project(file, envd_optional=True), ref, on_line=on_line)
    return up_project(file, image=ref, **up_options)


def pull_environment(project: Project, ref: str, on_line=None) -> Pulled:
    """Pull REF and put its build.envd and lock into PROJECT's directory, never over a file already there."""
    found = registry.pull(project.engine, ref, on_line)
    labels = (found.get("Config") or {}).get("Labels") or {}
    if ENVD_LABEL not in labels:
        raise EnvtrackError(f"{ref} was not pushed by `envtrack push` (it has no {ENVD_LABEL} label)",
                            hint="push an environment with `envtrack push REF`")
    written, kept = [], []
    for name, text in ((DEFAULT_FILE, labels[ENVD_LABEL]), (DEFAULT_LOCK, labels.get(LOCK_LABEL, ""))):
        target = project.dir / name
        if not text:
            continue
        if target.exists():
            if target.read_text(encoding="utf-8", errors="replace") != text:
                kept.append(name)
            continue
        write_atomic(target, text, 0o644)
        written.append(name)
    remember_ref(project, ref)
    return Pulled(ref, found["Id"], tuple(written), tuple(kept))
