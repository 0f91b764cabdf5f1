"""Merges and diffs for a BuildKit without MergeOp/DiffOp (v0.8, Engine 20.10): same filesystem.

* Branches of a common state C (`merge([a, b])`): the first branch as built, then each
  further branch's changes relative to C (envtrack.llb.apply_delta: deletions, then new or
  changed paths). Each further branch has a step of its own that mounts C and the branch
  writable, and writes only what the branch changed to its result, a small delta; one
  replay step then mounts the deltas (writable too) and applies them in order. Why so:
  BuildKit computes a content checksum of every file of an exec's input mounts before it
  looks the step up in its cache (seconds for a whole image), except for a root or writable
  mount that has an output (keyed by its definition; exec.go's getMountDeps: a writable
  mount whose changes are discarded is still checksummed). So C, the branch and the deltas
  are mounted writable and committed as extra outputs nothing reads (Mount.committed), and
  a changed branch costs a walk of what it changed and a copy of it, never a read of the
  whole branch nor a checksum of its delta (a changed pip branch's delta is its whole venv).
  Every branch is still its own chain of vertices, so BuildKit builds them in parallel and
  caches each on its own; only the changed branch's delta step and the replay step rerun.
* An input that is a diff(lower, upper): its changes replayed the same way, onto whatever
  is below it in the merge.
* States with nothing in common: layered whole with a FileOp copy of each root onto the
  previous (later files win, nothing is deleted), which is what MergeOp does with them.
* A diff used as a state of its own (built on, or the image): the new and changed paths
  of UPPER copied into an empty filesystem; its deletions have nothing to apply to.

Both steps run envtrack's base image's python3, with no network. The extract step runs on that
image with every mount point and the tool itself already in its root (`tool_root`): the root is
not part of the step's result, so BuildKit mounts the image's own layer as the root, one layer
shared by every such step running at once. A mount point missing from it would be made there by
runc and removed by BuildKit when that step ends, and Linux detaches a removed mount point in
every mount namespace: the steps beside it would lose their mounts mid-walk. The replay step's
root is the state it applies onto, its result (`replay_in_root`), and all it mounts is below
/dev, the container's own tmpfs.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from envtrack.errors import Position
from envtrack.project import BASE_IMAGE
from envtrack.state import Copy, Mkdir, Mkfile, Mount, Network, State

DELTA_ROOT = "/envtrack-delta"
OUT = f"{DELTA_ROOT}/out"
DELTA, LOWER, UPPER = f"{DELTA_ROOT}/delta", f"{DELTA_ROOT}/lower", f"{DELTA_ROOT}/upper"
TOOL = f"{DELTA_ROOT}/apply_delta.py"
_TOOL_SOURCE = Path(__file__).with_name("apply_delta.py")


def tool_root(mount_points: list[str]) -> State:
    """envtrack's base image with the replay tool and MOUNT_POINTS in place (see the module doc).

    A FileOp on the image, keyed by its definition: made once per Engine, cached after.
    """
    image = State.image(BASE_IMAGE, name=f"base {BASE_IMAGE}")
    source = _TOOL_SOURCE.read_bytes()
    return image.file(Mkdir(DELTA_ROOT), *(Mkdir(point) for point in mount_points), Mkfile(TOOL, source),
                      name="replay tool")


def replay(onto: State, deltas: list[tuple[State, State]], *, name: str, position: Position | None,
           arch: str = "") -> State:
    """ONTO plus what each UPPER changed relative to its LOWER, in order; keeps ONTO's process defaults.

    One step replays every delta: on a graph-driver Engine each step's commit costs about a
    second, and a later delta's step would rerun whenever an earlier one did anyway. Its root
    is ONTO itself where ARCH names the tool's loader (see `replay_in_root`).
    """
    changes = [extract(lower, upper, name=f"{name}: changes {number}/{len(deltas)}", position=position)
               for number, (lower, upper) in enumerate(deltas, 1)]
    if onto.output is not None and arch in LOADERS:
        return replay_in_root(onto, changes, arch, name=name, position=position)
    mounts = [Mount(dest=OUT, source=onto.output, readonly=False, output=True)]
    # committed, as the extract step mounts the branch: BuildKit keys the delta by its definition
    # instead of checksumming its files first (the whole venv of a changed pip branch)
    mounts += [Mount(dest=f"{DELTA_ROOT}/{number}", source=delta.output, committed=True)
               for number, delta in enumerate(changes, 1)]
    points = [mount.dest for mount in mounts]
    ran = tool_root(points).run(["python3", TOOL, "--apply", *points], mounts=tuple(mounts),
                                network=Network.NONE, name=name, position=position)
    return onto.with_output(ran.output)


# Where the in-root replay mounts what it runs: below /dev, the container's own tmpfs, so no
# mount point is made in ONTO (the step's result) nor in any layer another step shares.
IN_DEV = "/dev/envtrack-delta"
PYTHON_ROOT, TOOL_DIR = f"{IN_DEV}/python", f"{IN_DEV}/tool"
# The base image's dynamic loader and library directory, by the Engine's architecture: its
# python3 runs under a root that is not its own, so the loader is named, not looked up.
LOADERS = {"amd64": ("x86_64-linux-gnu", "ld-linux-x86-64.so.2"), "arm64": ("aarch64-linux-gnu", "ld-linux-aarch64.so.1")}


def replay_in_root(onto: State, changes: list[State], arch: str, *, name: str, position: Position | None) -> State:
    """The replay run with ONTO as its root, the deltas applied to `/`.

    On Engine 26's graph-driver store the first mount of a step's result below the root costs
    ~0.45 s per build (the image's own layer and a delta made on scratch cost nothing, a root
    nothing either), and ONTO, a branch, is such a result: mounted, it was that much of every
    changed build. So the tool runs on envtrack's base image mounted below /dev, through the
    image's loader, on whatever ONTO holds; deltas never hold /dev, /proc or /sys paths (no step
    writes there), and the tool touches only the paths they name.
    """
    triplet, loader = LOADERS[arch]
    libraries = f"{PYTHON_ROOT}/usr/lib/{triplet}"
    tool = State.scratch().file(Mkfile("/apply_delta.py", _TOOL_SOURCE.read_bytes()), name="replay tool")
    mounts = [Mount(dest=PYTHON_ROOT, source=State.image(BASE_IMAGE, name=f"base {BASE_IMAGE}").output,
                    committed=True),
              Mount(dest=TOOL_DIR, source=tool.output, committed=True)]
    mounts += [Mount(dest=f"{IN_DEV}/{number}", source=delta.output, committed=True)
               for number, delta in enumerate(changes, 1)]
    argv = [f"{libraries}/{loader}", "--library-path", libraries, f"{PYTHON_ROOT}/usr/bin/python3", "-S", "-B",
            f"{TOOL_DIR}/apply_delta.py", "--apply", "/", *(m.dest for m in mounts[2:])]
    # PYTHONHOME finds the mounted standard library; ONTO's own PYTHONPATH (a venv's) must not
    ran = onto.run(argv, env={"PYTHONHOME": f"{PYTHON_ROOT}/usr", "PYTHONPATH": ""}, user="root", cwd="/",
                   mounts=tuple(mounts), network=Network.NONE, name=name, position=position)
    return onto.with_output(ran.output)


def extract(lower: State, upper: State, *, name: str, position: Position | None) -> State:
    """What UPPER changed relative to LOWER, as apply_delta's DELTA: a small filesystem of its own.

    LOWER and UPPER are mounted writable and committed as outputs nothing reads (Mount.committed),
    so BuildKit keys them by definition and reads none of their files before the step; the
    step's result is the delta.
    """
    mounts = (Mount(dest=DELTA, readonly=False, output=True),
              Mount(dest=LOWER, source=lower.output, committed=True),
              Mount(dest=UPPER, source=upper.output, committed=True))
    return tool_root([DELTA, LOWER, UPPER]).run(["python3", TOOL, "--extract", DELTA, LOWER, UPPER],
                                                mounts=mounts, network=Network.NONE, name=name,
                                                position=position)


@dataclass(frozen=True)
class Layer:
    """One input of a merge: UPPER's changes relative to LOWER, or (LOWER None) UPPER whole."""

    upper: State
    lower: State | None = None


def merge(base: State | None, layers: list[Layer], *, name: str, position: Position | None,
          arch: str = "") -> State:
    """BASE (or nothing) with each layer applied in order: changes replayed, whole states copied."""
    if base is None:
        first, *rest = layers
        state = first.upper if first.lower is None else materialise_diff(first.lower, first.upper, name=name,
                                                                          position=position)
    elif layers and layers[0].lower is base:
        first, *rest = layers   # a branch of BASE is BASE with its changes already applied
        state = first.upper
    else:
        state, rest = base, layers
    # Consecutive replayed layers share one step; a layer taken whole is a FileOp copy.
    number = len(layers) - len(rest) + 1
    for replayed, group in groupby(rest, key=_replayed):
        group = list(group)
        if replayed:
            state = replay(state, [(layer.lower, layer.upper) for layer in group],
                           name=_label(name, number, len(group), len(layers)), position=position, arch=arch)
        else:
            for offset, layer in enumerate(group):
                state = state.file(Copy(source=layer.upper.output, src="/", dest="/"),
                                   name=_label(name, number + offset, 1, len(layers)), position=position)
        number += len(group)
    return state


def _replayed(layer: Layer) -> bool:
    """Whether LAYER is applied as changes; else it is copied whole (a diff of nothing is all change)."""
    return layer.lower is not None and layer.lower.output is not None


def _label(name: str, first: int, count: int, total: int) -> str:
    return f"{name} ({first}/{total})" if count == 1 else f"{name} ({first}-{first + count - 1}/{total})"


def materialise_diff(lower: State, upper: State, *, name: str, position: Position | None) -> State:
    """UPPER's new and changed paths on an empty filesystem (a diff with nothing under it)."""
    if lower.output is None:
        return upper
    return lower.with_output(replay(State.scratch(), [(lower, upper)], name=name, position=position).output)
