"""The image's runtime config (env, command, ports, working dir, labels).

BuildKit without a frontend exports a bare config, and the Engine's `moby` exporter
ignores the `containerimage.config` attribute (20.10 and 26 alike), so the builder applies
this through the Dockerfile frontend (`to_dockerfile`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from envtrack.agent.layout import WORKSPACE as WORKDIR
from envtrack.errors import EnvtrackError

IMAGES_LABEL = "envtrack.images"   # JSON {ref: repo@sha256:...}: the registry images a build read


def images_label(digests: dict[str, str]) -> dict[str, str]:
    """The label recording DIGESTS (nothing when the build read no registry image)."""
    return {IMAGES_LABEL: json.dumps(digests, sort_keys=True, separators=(",", ":"))} if digests else {}


def images_of(labels: dict) -> dict[str, str]:
    """The registry digests an image (or its container) was built from, by its IMAGES_LABEL."""
    try:
        found = json.loads((labels or {}).get(IMAGES_LABEL) or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


@dataclass(frozen=True)
class ImageConfig:
    env: tuple[tuple[str, str], ...] = ()        # in order; PATH included
    cmd: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()             # config.entrypoint; empty: the base image's
    exposed_ports: tuple[str, ...] = ()          # "8888/tcp"
    working_dir: str = WORKDIR
    labels: tuple[tuple[str, str], ...] = ()     # sorted by key

    def env_dict(self) -> dict[str, str]:
        return dict(self.env)

    def with_labels(self, **labels: str) -> "ImageConfig":
        merged = dict(self.labels) | labels
        return replace(self, labels=tuple(sorted(merged.items())))

    def to_dockerfile(self, image: str) -> str:
        """A Dockerfile that gives IMAGE this config and changes nothing else: every instruction
        is config-only, so BuildKit's Dockerfile frontend exports IMAGE's layers unchanged."""
        lines = [f"FROM {image}"]
        lines += [f"ENV {key}={_word(value)}" for key, value in self.env]
        lines.append(f"WORKDIR {_word(self.working_dir)}")
        if self.cmd:  # the exec (JSON) form: no shell, no expansion
            lines.append(f"CMD {json.dumps(list(self.cmd))}")
        if self.entrypoint:
            lines.append(f"ENTRYPOINT {json.dumps(list(self.entrypoint))}")
        lines += [f"EXPOSE {port}" for port in self.exposed_ports]
        lines += [f"LABEL {_word(key)}={_word(value)}" for key, value in self.labels]
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict:
        data = {"env": dict(self.env), "cmd": list(self.cmd), "exposed_ports": list(self.exposed_ports),
                "working_dir": self.working_dir, "labels": dict(self.labels)}
        if self.entrypoint:  # only when set, so images without one keep their tags
            data["entrypoint"] = list(self.entrypoint)
        return data


def _word(value: str) -> str:
    """VALUE as one double-quoted Dockerfile word that reads back literally: the frontend
    would expand `$NAME`, and a newline would end the instruction."""
    if "\n" in value or "\r" in value:
        raise EnvtrackError(f"image config value {value!r} has a line break, which an image's "
                            "env, label or working directory cannot carry here", exit_code=2)
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'
