"""Read the host files a plan names (the only I/O of compiling), checked and size-limited.

io.copy trees, pip requirements and local wheels, conda env files and the CA bundle of
config.ca_certificates travel inside the LLB definition as file contents, so their total
is limited: the gRPC message carrying the definition must stay under the daemon's limit.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from envtrack.errors import LocatedError
from envtrack.frontend.steps import Plan, Step

# gRPC servers accept 4 MiB messages by default; leave room for the rest of the request.
INLINE_LIMIT = 3 * 1024 * 1024


@dataclass(frozen=True)
class HostFile:
    role: str            # "requirements" | "wheel" | "env_file" | "copy" | "ca"
    name: str            # file name (or path relative to the copied directory; "" for its root)
    data: bytes | None   # None for a directory
    mode: int = 0o644


HostInputs = dict[int, tuple[HostFile, ...]]   # step index -> its files


def read_host_inputs(plan: Plan) -> HostInputs:
    base_dir = Path(plan.file).parent
    inputs: HostInputs = {}
    total = 0
    for index, step in enumerate(plan.steps):
        files = tuple(files_for(step, base_dir))
        if not files:
            continue
        total += sum(len(f.data or b"") for f in files)
        if total > INLINE_LIMIT:
            raise LocatedError(
                step.position,
                f"{step.kind}: host files add up to more than {INLINE_LIMIT // (1024 * 1024)} MiB, "
                "the most envtrack embeds in a build; install large files with run() or a package index",
            )
        inputs[index] = files
    return inputs


def files_for(step: Step, base_dir: Path) -> list[HostFile]:
    args = step.args
    if step.kind == "install.python_packages":
        files = []
        if args.get("requirements"):
            files.append(read_file(step, base_dir, args["requirements"], "requirements"))
        files += [read_file(step, base_dir, w, "wheel") for w in args.get("local_wheels", [])]
        return files
    if step.kind == "install.conda_packages" and args.get("env_file"):
        return [read_file(step, base_dir, args["env_file"], "env_file")]
    if step.kind == "config.ca_certificates":
        return [read_file(step, base_dir, args["path"], "ca")]
    if step.kind == "io.copy":
        return read_tree(step, base_dir, args["host_path"])
    return []


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
