"""`up --locked`: pin every package build.envd asks for to the version in the lock. Pure.

Only the names written in install.apt_packages / install.python_packages /
install.conda_packages are rewritten; their dependencies follow from the pinned
versions. A name the lock does not know is an error at the step that asks for it:
a locked build that quietly installs something unlocked would not be reproducible.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from envtrack.builtins import MANAGER_OF_KIND
from envtrack.errors import LocatedError
from envtrack.frontend.steps import Plan, Step
from envtrack.records import Package
from envtrack.requirements import format_requirement, parse_requirement
from envtrack.snapshot.lock import Lock


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
        manager = MANAGER_OF_KIND.get(step.kind)
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
    if manager == "pip" and ("@" in requirement.split(";")[0] or "://" in requirement):
        # A direct URL or path names one exact artifact already; nothing to pin.
        return Pin("pip", requirement, "", requirement)
    parsed = parse_requirement(manager, requirement.strip())
    if parsed is None:
        raise LocatedError(step.position, f"cannot pin {manager} package {requirement!r}: unrecognised form")
    locked = _lookup(manager, parsed.name, index, step, lock_name)
    version = locked.version
    if manager == "conda":
        # A lock pins exactly: `name=1.2=py_0` (version and build) or `name==1.2`; conda's `=1.2` means 1.2.*.
        version = f"{locked.version}={locked.build}" if locked.build else f"={locked.version}"
    spec = format_requirement(parsed.head, manager, version, "exact", tail=parsed.tail)
    return Pin(manager, parsed.name, locked.version, spec)


def _lookup(manager: str, name: str, index: dict, step: Step, lock_name: str) -> Package:
    locked = index.get((manager, name.lower()))
    if locked is None:
        raise LocatedError(
            step.position,
            f"{manager} package {name!r} is not in {lock_name}; "
            f"run `envtrack snapshot` to refresh the lock, or build without --locked",
        )
    return locked
