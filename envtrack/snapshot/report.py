"""Render a Diff for people (text) and for scripts (JSON). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from envtrack.snapshot.diff import Diff, DiffEntry, EnvDiff
from envtrack.snapshot.lock import Lock, package_to_json


@dataclass(frozen=True)
class Side:
    """One thing being compared: what the user named, what it was read as, and its contents."""

    label: str       # e.g. "envtrack.lock", "image envtrack/base:bookworm", "container envtrack-demo"
    lock: Lock


def drift_notes(locked: Lock, current: Lock) -> tuple[list[str], list[str]]:
    """Differences outside the package list: (stale-lock reasons, informational notes).

    A new base image or an edited build.envd makes the lock stale. A different image ID of
    the environment alone does not: rebuilding the same build.envd may commit a new image.
    """
    stale, info = [], []
    if locked.base.id and current.base.id and locked.base.id != current.base.id:
        stale.append(f"base image {current.base.ref or locked.base.ref}: "
                     f"{_short(locked.base.id)} -> {_short(current.base.id)}")
    if locked.envd_sha256 and current.envd_sha256 and locked.envd_sha256 != current.envd_sha256:
        stale.append(f"{current.envd_file or locked.envd_file or 'build.envd'} changed since the lock "
                     f"(sha256 {locked.envd_sha256[:12]} -> {current.envd_sha256[:12]})")
    if locked.image.id and current.image.id and locked.image.id != current.image.id:
        info.append(f"image {current.image.ref or '?'}: {_short(locked.image.id)} -> {_short(current.image.id)}")
    return stale, info


def render_text(diff: Diff, a: Side, b: Side, stale: Sequence[str] = (), info: Sequence[str] = ()) -> str:
    lines = [f"A: {_describe(a)}", f"B: {_describe(b)}"]
    lines.extend(f"! {note}" for note in stale)
    lines.extend(f"note: {note}" for note in info)
    for group in diff.groups:
        lines.append("")
        lines.append(_group_title(group))
        lines.extend(_entry_line(entry) for entry in group.entries)
    lines.append("")
    lines.append(summary(diff) if not diff.equal else "no package differences")
    return "\n".join(lines) + "\n"


def summary(diff: Diff) -> str:
    return (f"{diff.count('added')} added, {diff.count('removed')} removed, "
            f"{diff.count('changed')} changed")


def render_json(diff: Diff, a: Side, b: Side, stale: Sequence[str] = (), info: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "equal": diff.equal and not stale,
        "a": _side_json(a),
        "b": _side_json(b),
        "stale": list(stale),
        "notes": list(info),
        "summary": {kind: diff.count(kind) for kind in ("added", "removed", "changed")},
        "groups": [_group_json(group) for group in diff.groups],
    }


def _describe(side: Side) -> str:
    image = side.lock.image
    if image.id and image.ref and image.ref not in side.label:
        return f"{side.label} (image {image.ref} {_short(image.id)})"
    if image.id:
        return f"{side.label} ({_short(image.id)})"
    return side.label


def _group_title(group: EnvDiff) -> str:
    counts = ", ".join(f"{len(getattr(group, k))} {k}" for k in ("added", "removed", "changed")
                       if getattr(group, k))
    where = "" if group.manager == "apt" else f" {group.env}"
    return f"{group.manager}{where}: {counts}"


def _entry_line(entry: DiffEntry) -> str:
    tags = ["requested"] if entry.requested else []
    if entry.kind != "changed":
        mark, package = ("+", entry.new) if entry.kind == "added" else ("-", entry.old)
        origin = f" from {package.source}" if package.source else ""  # type: ignore[union-attr]
        return f"  {mark} {entry.name} {package.version}{origin}{_tags(tags)}"  # type: ignore[union-attr]
    if "version" in entry.fields:
        tags.insert(0, entry.action)
    return f"  ~ {entry.name} {_what_changed(entry)}{_tags(tags)}"


def _tags(tags: list[str]) -> str:
    return f"  ({', '.join(tags)})" if tags else ""


def _what_changed(entry: DiffEntry) -> str:
    old, new = entry.old, entry.new
    parts = []
    for field in entry.fields:
        before, after = getattr(old, field), getattr(new, field)
        if field == "version":
            parts.insert(0, f"{before} -> {after}")
        elif field == "requested":
            parts.append(f"requested: {_yes(before)} -> {_yes(after)}")
        else:
            parts.append(f"{field}: {before or '-'} -> {after or '-'}")
    if "version" not in entry.fields:
        parts.insert(0, new.version)  # type: ignore[union-attr]
    return ", ".join(parts)


def _side_json(side: Side) -> dict[str, Any]:
    lock = side.lock
    return {"label": side.label, "image": lock.image.to_json(), "base": lock.base.to_json(),
            "envd_sha256": lock.envd_sha256, "packages": len(lock.packages)}


def _group_json(group: EnvDiff) -> dict[str, Any]:
    return {
        "manager": group.manager,
        "env": group.env,
        "added": [package_to_json(c.new) for c in group.added],  # type: ignore[arg-type]
        "removed": [package_to_json(c.old) for c in group.removed],  # type: ignore[arg-type]
        "changed": [
            {"name": c.name, "action": c.action, "fields": list(c.fields), "requested": c.requested,
             "old": package_to_json(c.old), "new": package_to_json(c.new)}  # type: ignore[arg-type]
            for c in group.changed
        ],
    }


def _short(image_id: str) -> str:
    return image_id.split(":", 1)[-1][:12] if image_id else "?"


def _yes(value: bool) -> str:
    return "yes" if value else "no"
