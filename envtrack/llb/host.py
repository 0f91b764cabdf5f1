"""Read the host files a plan names (the only I/O of compiling), checked and size-limited.

io.copy trees, pip requirements and local wheels (with the project directories a requirements
file installs from, `-e .`), conda env files and the CA bundle of config.ca_certificates travel
inside the LLB definition as file contents, so their total is limited: the gRPC message
carrying the definition must stay under the daemon's limit. Being content, they key the
step's cache: a change to a file rebuilds from the step that reads it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from envtrack.builtins import BUILTINS, HostInput
from envtrack.errors import LocatedError
from envtrack.frontend.steps import Plan, Step
from envtrack.requirements import local_paths

# gRPC servers accept 4 MiB messages by default; leave room for the rest of the request.
INLINE_LIMIT = 3 * 1024 * 1024
# Never part of a Python package's source: envtrack's state, VCS data, caches of the host's Pythons.
PROJECT_SKIPPED = frozenset({".envtrack", ".git", "__pycache__", ".venv"})


@dataclass(frozen=True)
class HostFile:
    role: str            # "requirements" | "wheel" | "env_file" | "copy" | "ca" | "project"
    name: str            # file name (or path relative to the copied directory, or for "project"
                         # to the project directory; "" for a copied directory's root)
    data: bytes | None   # None for a directory
    mode: int = 0o644


HostInputs = dict[int, tuple[HostFile, ...]]   # step index -> its files


class HostInputError(Exception):
    """Step INDEX names a host file that cannot be read; INPUTS holds the earlier steps' files."""

    def __init__(self, index: int, error: LocatedError, inputs: HostInputs):
        super().__init__(str(error))
        self.index, self.error, self.inputs = index, error, inputs


def read_host_inputs(plan: Plan) -> HostInputs:
    base_dir = Path(plan.file).parent
    inputs: HostInputs = {}
    total = 0
    for index, step in enumerate(plan.steps):
        try:
            files = tuple(files_for(step, base_dir))
            files += tuple(project_files(step, base_dir, files, skip=Path(plan.file)))
        except LocatedError as error:
            raise HostInputError(index, error, dict(inputs)) from None
        if not files:
            continue
        total += sum(len(f.data or b"") for f in files)
        if total > INLINE_LIMIT:
            raise HostInputError(index, LocatedError(
                step.position,
                f"{step.kind}: host files add up to more than {INLINE_LIMIT // (1024 * 1024)} MiB, "
                "the most envtrack embeds in a build; install large files with run() or a package index",
            ), dict(inputs))
        inputs[index] = files
    return inputs


def files_for(step: Step, base_dir: Path) -> list[HostFile]:
    """The files the registry says STEP reads (envtrack.builtins: host_inputs)."""
    found = BUILTINS.get(step.kind)
    files: list[HostFile] = []
    for host_input in found.host_inputs if found else ():
        if host_input.tree and skips_host(step):
            continue
        for name in named_paths(step, host_input):
            if host_input.tree:
                files += read_tree(step, base_dir, name)
            else:
                files.append(read_file(step, base_dir, name, host_input.role))
    return files


def project_files(step: Step, base_dir: Path, files: tuple[HostFile, ...], *, skip: Path) -> list[HostFile]:
    """The project directories STEP installs from (`-e .`, `./pkg` in its requirements file, or
    `./vendor/mylib`, `--editable=./vendor/editlib` in its `name` list, as sync writes them), as
    pip run in the project directory would read them; SKIP (build.envd) is no package's source,
    so editing it does not rebuild the install."""
    found: list[HostFile] = []
    for origin, text in _local_path_sources(step, files):
        for name in local_paths(text):
            root = (base_dir / name).resolve()
            if not root.is_relative_to(base_dir.resolve()):
                raise LocatedError(step.position, f"{step.kind}: {origin} installs {name}, outside the "
                                                  f"project directory {base_dir.resolve()}; envtrack builds from "
                                                  "the project's files")
            found += read_project_dir(step, base_dir, root, skip)
    return list({f.name: f for f in found}.values())


def _local_path_sources(step: Step, files: tuple[HostFile, ...]) -> list[tuple[str, str]]:
    """(where, text) of everything that may name project paths: requirements files and pip's `name` list."""
    sources = [(f.name, f.data.decode("utf-8", "replace")) for f in files if f.role == "requirements"]
    if step.kind == "install.python_packages":
        sources.append(("name", "\n".join(str(n) for n in step.args.get("name") or [])))
    return sources


def read_project_dir(step: Step, base_dir: Path, root: Path, skip: Path) -> list[HostFile]:
    """ROOT's files and directories, named relative to the project (BASE_DIR)."""
    if not root.is_dir():
        raise LocatedError(step.position, f"{step.kind}: {root.relative_to(base_dir.resolve()) or '.'}: "
                                          "not a directory of the project")
    project, skipped = base_dir.resolve(), skip.resolve()
    entries = [HostFile("project", root.relative_to(project).as_posix(), None, file_mode(root))]
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in PROJECT_SKIPPED)
        for name in dirnames:
            path = Path(directory, name)
            entries.append(HostFile("project", path.relative_to(project).as_posix(), None, file_mode(path)))
        for name in sorted(filenames):
            path = Path(directory, name)
            if path.is_file() and path != skipped:
                entries.append(HostFile("project", path.relative_to(project).as_posix(), path.read_bytes(),
                                        file_mode(path)))
    return entries


def skips_host(step: Step) -> bool:
    """io.copy(image=...) copies from an image, not from the host."""
    return bool(step.args.get("image"))


def tracked_paths(step: Step, base_dir: Path) -> list[Path] | None:
    """The host files STEP reads, for the build stamp to fingerprint; None when it reads
    what a file digest cannot capture: a directory tree, the host directory of
    run(mount_host=True). A download without a checksum is no host file: the stamp asks its
    URL again (envtrack.solve.unpinned)."""
    if step.args.get("mount_host"):
        return None
    found = BUILTINS.get(step.kind)
    paths: list[Path] = []
    for host_input in found.host_inputs if found else ():
        if host_input.tree and not skips_host(step):
            return None
        if not host_input.tree:
            paths += [base_dir / os.path.expanduser(name) for name in named_paths(step, host_input)]
    if installs_project_dirs(step, base_dir):
        return None
    return paths


def installs_project_dirs(step: Step, base_dir: Path) -> bool:
    """Whether STEP installs project directories (trees, like io.copy's): its `name` list or its
    requirements file names one."""
    if step.kind == "install.python_packages" and local_paths("\n".join(str(n) for n in step.args.get("name") or [])):
        return True
    found = BUILTINS.get(step.kind)
    for host_input in found.host_inputs if found else ():
        for name in named_paths(step, host_input) if host_input.role == "requirements" else ():
            try:
                if local_paths((base_dir / os.path.expanduser(name)).read_text(encoding="utf-8", errors="replace")):
                    return True
            except OSError:
                continue
    return False


def named_paths(step: Step, host_input: HostInput) -> list[str]:
    """The host paths STEP's argument names. "" is no path where it is the argument's default
    (`requirements=""`); a required argument or a list entry that is "" is an error at the call."""
    value = step.args.get(host_input.param)
    names = [value] if isinstance(value, str) else [str(v) for v in value or []]
    if "" in names and (not isinstance(value, str) or _required(step.kind, host_input.param)):
        where = "" if isinstance(value, str) else f" in {host_input.param}"
        raise LocatedError(step.position, f"{step.kind}: empty path{where}")
    return [name for name in names if name]


def _required(kind: str, param: str) -> bool:
    return any(p.name == param and p.required for p in BUILTINS[kind].params)


def resolve(step: Step, base_dir: Path, name: str) -> Path:
    path = (base_dir / os.path.expanduser(name))
    if not path.exists():
        raise LocatedError(step.position, f"{step.kind}: {name}: no such file (paths are relative to {base_dir or '.'})")
    return path


def read_file(step: Step, base_dir: Path, name: str, role: str) -> HostFile:
    path = resolve(step, base_dir, name)
    if not path.is_file():
        raise LocatedError(step.position, f"{step.kind}: {name}: not a file")
    try:
        return HostFile(role, path.name, path.read_bytes(), file_mode(path))
    except OSError as error:
        raise LocatedError(step.position, f"{step.kind}: {name}: {error.strerror}") from None


def read_tree(step: Step, base_dir: Path, name: str) -> list[HostFile]:
    """A file, or a directory walked in sorted order (symlinks followed, sockets skipped)."""
    root = resolve(step, base_dir, name)
    if root.is_file():
        return [HostFile("copy", "", root.read_bytes(), file_mode(root))]
    entries = [HostFile("copy", "", None, 0o755)]
    for directory, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        rel_dir = Path(directory).relative_to(root)
        for d in dirnames:
            entries.append(HostFile("copy", (rel_dir / d).as_posix(), None, file_mode(Path(directory, d))))
        for f in sorted(filenames):
            path = Path(directory, f)
            if path.is_file():
                entries.append(HostFile("copy", (rel_dir / f).as_posix(), path.read_bytes(), file_mode(path)))
    return entries


def file_mode(path: Path) -> int:
    """Permission bits only; executables stay executable."""
    return stat.S_IMODE(path.stat().st_mode)
