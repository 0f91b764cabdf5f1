"""The agent for an environment without a usable python3: a companion container beside it.

The companion runs envtrack's own base image (which has python3) and joins the environment's
PID namespace (`pid_mode=container:ENV`), so the environment's PID 1 is its PID 1 too and
`/proc/1/root` is the environment's filesystem: the agent watches it with `--root /proc/1/root`,
inotify and dpkg's lock included. It shares the environment's hostname, so the agent's
container identity (baseline, health) is the environment's. When the environment stops, its
PID namespace ends and the companion with it; `up` replaces it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from envtrack.agent.layout import AGENT_LOG, AGENT_MOUNT, STATE_MOUNT
from envtrack.project import Project

AGENT_IMAGE = "envtrack/base:bookworm"   # made by `envtrack engine setup`; has python3
AGENT_IMAGE_ENV = "ENVTRACK_AGENT_IMAGE"  # another image with python3 >= 3.8 and sh
ENV_ROOT = "/proc/1/root"                 # the environment's filesystem, seen from the companion
ROLE_LABEL = "envtrack.role"


def agent_image() -> str:
    return os.environ.get(AGENT_IMAGE_ENV) or AGENT_IMAGE


def companion_name(project: Project) -> str:
    return project.names.companion


@dataclass(frozen=True)
class CompanionSpec:
    name: str
    image: str
    env_id: str
    hostname: str
    project: str

    def run_kwargs(self) -> dict[str, Any]:
        """Arguments for the docker SDK's containers.create.

        The environment's volumes and binds (`volumes_from`) give the companion the state
        directory at the same path: SQLite resolves /proc/1/root to the companion's own root, so
        the journal needs a real mount. The bundle is imported through /proc/1/root, where the
        environment has it whether bind-mounted from this machine or copied in (remote Engine).
        """
        script = (f"exec env PYTHONPATH={ENV_ROOT}{AGENT_MOUNT} python3 -s -m envtrack.agent --state {STATE_MOUNT} "
                  f"--root {ENV_ROOT} >>{STATE_MOUNT}/{AGENT_LOG} 2>&1")
        return {
            "image": self.image,
            "name": self.name,
            "command": ["sh", "-c", script],
            "detach": True,
            "pid_mode": f"container:{self.env_id}",
            "hostname": self.hostname,
            "network_mode": "none",   # the agent only reads files and writes the journal
            "volumes_from": [self.env_id],
            "labels": {ROLE_LABEL: "agent", "envtrack.project": self.project},
        }


def env_hostname(container: Any) -> str:
    """The environment's hostname: the container identity the agent journals under."""
    return container.attrs["Config"].get("Hostname") or container.id[:12]


def companion_spec(project: Project, container: Any) -> CompanionSpec:
    return CompanionSpec(companion_name(project), agent_image(), container.id, env_hostname(container),
                         project.name)
