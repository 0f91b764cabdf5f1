"""A package slot as the installer records describe it: the one type every reader returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple


@dataclass(frozen=True)
class Package:
    manager: str
    name: str
    version: str
    env: str
    requested: bool
    arch: str = ""
    source: str = ""
    build: str = ""

    @property
    def key(self) -> Tuple[str, str, str]:
        """Identity of a package slot: one version per (manager, env, name)."""
        return (self.manager, self.env, self.name)
