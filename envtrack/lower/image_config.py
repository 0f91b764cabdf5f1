"""The image's runtime config (env, command, ports, working dir, labels).

BuildKit without a frontend exports a bare config, so the builder applies this
itself: as the `containerimage.config` exporter attribute (`to_oci`) where the Engine
honours it, or as commit changes (`to_docker_changes`) where it does not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from envtrack.agent.layout import WORKSPACE as WORKDIR


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

    def to_oci(self) -> dict:
        """The `config` part of an OCI image config."""
        config: dict = {"Env": [f"{k}={v}" for k, v in self.env], "WorkingDir": self.working_dir}
        if self.cmd:
            config["Cmd"] = list(self.cmd)
        if self.entrypoint:
            config["Entrypoint"] = list(self.entrypoint)
        if self.exposed_ports:
            config["ExposedPorts"] = {p: {} for p in self.exposed_ports}
        if self.labels:
            config["Labels"] = dict(self.labels)
        return config

    def to_docker_changes(self) -> list[str]:
        """Dockerfile-style instructions for the Engine's commit API (`changes`)."""
        changes = [f"ENV {k}={json.dumps(v)}" for k, v in self.env]
        changes.append(f"WORKDIR {self.working_dir}")
        if self.cmd:
            changes.append(f"CMD {json.dumps(list(self.cmd))}")
        if self.entrypoint:
            changes.append(f"ENTRYPOINT {json.dumps(list(self.entrypoint))}")
        changes += [f"EXPOSE {p}" for p in self.exposed_ports]
        changes += [f"LABEL {json.dumps(k)}={json.dumps(v)}" for k, v in self.labels]
        return changes

    def to_json(self) -> dict:
        data = {"env": dict(self.env), "cmd": list(self.cmd), "exposed_ports": list(self.exposed_ports),
                "working_dir": self.working_dir, "labels": dict(self.labels)}
        if self.entrypoint:  # only when set, so images without one keep their tags
            data["entrypoint"] = list(self.entrypoint)
        return data
