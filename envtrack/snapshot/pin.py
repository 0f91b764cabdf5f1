"""`up --locked`: pin every package build.envd asks for to the version in the lock. Pure.

Only the names written in install.apt_packages / install.python_packages /
install.conda_packages are rewritten; their dependencies follow from the pinned
versions. A name the lock does not know is an error at the step that asks for it:
a locked build that quietly installs something unlocked would not be reproducible.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from envtrack.errors import LocatedError
from envtrack.frontend.steps import Plan, Step
from envtrack.records import Package
from envtrack.snapshot.lock import Lock

_MANAGER_OF_STEP = {
    "install.apt_packages": "apt",
    "install.python_packages": "pip",
    "install.conda_packages": "conda",
}
# PEP 508: name, optional [extras], then version specifiers / URL / markers we replace or keep.
_PIP_REQ = re.compile(r"^\s*(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?P<extras>\[[^\]]*\])?"
                      r"\s*(?P<rest>[^;]*?)\s*(?P<marker>;.*)?$")
# apt: name[:arch][=version | /release]
_APT_REQ = re.compile(r"^(?P<name>[a-z0-9][a-z0-9+.-]*)(?P<arch>:[a-z0-9-]+)?(?:[=/].*)?$")
# conda: [channel::]name[ version / =version / >=version ...]
_CONDA_REQ = re.compile(r"^(?P<channel>[^:\s]+::)?(?P<name>[A-Za-z0-9_.-]+?)(?:\s*[=<>!~ ].*)?$")


@dataclass(frozen=True)
class Pin:
    manager: str
    name: str
    version: str
    spec: str          # what the build now asks for, e.g. "six==1.16.0"


@dataclass(frozen=True)
class PinnedPlan:
    plan: Plan
    pins: tuple[Pin, ...]


def pin_plan(plan: Plan, lock: Lock, lock_name: str = "envtrack.lock") -> PinnedPlan:
    """The plan with every requested package pinned to the lock's version."""
    index = _index(lock.packages)
    steps, pins = [], []
    for step in plan.steps:
        manager = _MANAGER_OF_STEP.get(step.kind)
        if manager is None or not step.args.get("name"):
            steps.append(step)
            continue
        specs = []
        for requirement in step.args["name"]:
            pin = _pin_one(manager, requirement, index, step, lock_name)
            pins.append(pin)
            specs.append(pin.spec)
        steps.append(dataclasses.replace(step, args={**step.args, "name": specs}))
    return PinnedPlan(dataclasses.replace(plan, steps=tuple(steps)), tuple(pins))


def canonical_pip_name(name: str) -> str:
    """PEP 503 normalisation, the form records.py stores pip names in."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _index(packages: tuple[Package, ...]) -> dict[tuple[str, str], Package]:
    """(manager, name) -> the locked package; a requested copy wins over a dependency copy."""
    index: dict[tuple[str, str], Package] = {}
    for package in packages:
        key = (package.manager, package.name.lower())
        current = index.get(key)
        if current is None or (package.requested and not current.requested):
            index[key] = package
    return index


def _pin_one(manager: str, requirement: str, index: dict, step: Step, lock_name: str) -> Pin:
    if manager == "apt":
        return _pin_apt(requirement, index, step, lock_name)
    if manager == "pip":
        return _pin_pip(requirement, index, step, lock_name)
    return _pin_conda(requirement, index, step, lock_name)


def _pin_apt(requirement: str, index: dict, step: Step, lock_name: str) -> Pin:
    match = _APT_REQ.match(requirement.strip())
    if not match:
        raise LocatedError(step.position, f"cannot pin apt package {requirement!r}: unrecognised form")
    name, arch = match["name"], match["arch"] or ""
    locked = _lookup("apt", name, index, step, lock_name)
    return Pin("apt", name, locked.version, f"{name}{arch}={locked.version}")


def _pin_pip(requirement: str, index: dict, step: Step, lock_name: str) -> Pin:
    match = _PIP_REQ.match(requirement)
    if not match or match["rest"].startswith("@") or "://" in requirement:
        # A direct URL or path names one exact artifact already; nothing to pin.
        return Pin("pip", requirement, "", requirement)
    name = canonical_pip_name(match["name"])
    locked = _lookup("pip", name, index, step, lock_name)
    spec = f"{match['name']}{match['extras'] or ''}=={locked.version}{match['marker'] or ''}"
    return Pin("pip", name, locked.version, spec)


def _pin_conda(requirement: str, index: dict, step: Step, lock_name: str) -> Pin:
    match = _CONDA_REQ.match(requirement.strip())
    if not match:
        raise LocatedError(step.position, f"cannot pin conda package {requirement!r}: unrecognised form")
    name = match["name"]
    locked = _lookup("conda", name, index, step, lock_name)
    exact = f"{locked.version}={locked.build}" if locked.build else f"={locked.version}"
    return Pin("conda", name, locked.version, f"{match['channel'] or ''}{name}={exact}")


def _lookup(manager: str, name: str, index: dict, step: Step, lock_name: str) -> Package:
    locked = index.get((manager, name.lower()))
    if locked is None:
        raise LocatedError(
            step.position,
            f"{manager} package {name!r} is not in {lock_name}; "
            f"run `envtrack snapshot` to refresh the lock, or build without --locked",
        )
    return locked
