"""The newest entry of /var/log/apt/history.log: which command asked for which packages."""

from __future__ import annotations

import re
from typing import Dict, Optional, Set

_ITEM = re.compile(r"([^\s:,()]+)(?::[a-z0-9-]+)? \(([^)]*)\)")


class AptEntry:
    """Commandline and the automatically installed names of one apt run."""

    def __init__(self, commandline: str, automatic: Set[str], named: Set[str]):
        self.commandline = commandline
        self.automatic = automatic   # installed as dependencies ("automatic" in the entry)
        self.named = named           # every package the entry lists


def last_entry(text: str) -> Optional[AptEntry]:
    blocks = [b for b in re.split(r"\n\s*\n", text) if "Start-Date:" in b]
    if not blocks:
        return None
    fields: Dict[str, str] = {}
    for line in blocks[-1].splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            fields[key.strip()] = value.strip()
    automatic: Set[str] = set()
    named: Set[str] = set()
    for key in ("Install", "Upgrade", "Downgrade", "Reinstall", "Remove", "Purge"):
        for name, inside in _ITEM.findall(fields.get(key, "")):
            named.add(name)
            if "automatic" in inside:
                automatic.add(name)
    return AptEntry(fields.get("Commandline", ""), automatic, named)
