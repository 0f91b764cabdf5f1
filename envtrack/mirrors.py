"""Download mirrors: one URL-prefix rewrite table for every upstream envtrack fetches.

Like git's `url.<base>.insteadOf`: a URL that starts with an upstream prefix is fetched from
the mirror prefix instead, the longest matching prefix winning. The table comes from two
places, the environment first (a shell or CI setting beats a file):

- `ENVTRACK_MIRRORS`: whitespace-separated `UPSTREAM_PREFIX=MIRROR_PREFIX` pairs;
- the `[mirrors]` table of the user's config file (`~/.config/envtrack/config.toml`),
  `"UPSTREAM_PREFIX" = "MIRROR_PREFIX"` lines.

`MirrorTable` is pure; `load()` is the only function here that reads the environment or a file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
TYPE_CHECKING = False   # typing.TYPE_CHECKING without importing typing (~3 ms of a cached build)
if TYPE_CHECKING:
    from typing import Mapping

ENV_VAR = "ENVTRACK_MIRRORS"
CONFIG_FILE = "config.toml"     # in the user's envtrack config folder (endpoints.config_dir)
CONFIG_TABLE = "mirrors"


class MirrorError(ValueError):
    """A mirror setting that cannot be read; the message names where it came from."""


@dataclass(frozen=True)
class MirrorTable:
    """UPSTREAM_PREFIX -> MIRROR_PREFIX pairs, with where each table came from (for messages)."""

    pairs: tuple[tuple[str, str], ...] = ()
    sources: tuple[str, ...] = field(default=())

    def rewrite(self, url: str) -> str:
        """URL with its longest matching upstream prefix replaced by that prefix's mirror."""
        match = self.match(url)
        return url if match is None else match[1] + url[len(match[0]):]

    def match(self, url: str) -> tuple[str, str] | None:
        best: tuple[str, str] | None = None
        for upstream, mirror in self.pairs:
            if url.startswith(upstream) and (best is None or len(upstream) > len(best[0])):
                best = (upstream, mirror)
        return best

    def setting_hint(self, url: str) -> str:
        """The setting a user would change to point URL elsewhere: for one-line failures."""
        match = self.match(url)
        if match is not None:
            return f"mirrored by {match[0]}={match[1]} ({', '.join(self.sources)})"
        return f"set {ENV_VAR}='{url.rsplit('/', 1)[0]}/=MIRROR_URL/' to fetch it from a mirror"

    def __bool__(self) -> bool:
        return bool(self.pairs)


def parse_pairs(text: str, source: str = ENV_VAR) -> tuple[tuple[str, str], ...]:
    """`A=B C=D` -> ((A, B), (C, D)); a word without `=` or with an empty side is an error."""
    pairs = []
    for word in text.split():
        upstream, sep, mirror = word.partition("=")
        if not sep or not upstream or not mirror:
            raise MirrorError(f"{source}: {word!r} is not UPSTREAM_PREFIX=MIRROR_PREFIX")
        pairs.append((upstream, mirror))
    return tuple(pairs)


def parse_config(text: str, source: str) -> tuple[tuple[str, str], ...]:
    import tomllib

    try:
        table = tomllib.loads(text).get(CONFIG_TABLE, {})
    except tomllib.TOMLDecodeError as error:
        raise MirrorError(f"{source}: {error}") from None
    if not isinstance(table, dict) or not all(isinstance(v, str) and v for v in table.values()):
        raise MirrorError(f"{source}: [{CONFIG_TABLE}] must map upstream URL prefixes to mirror URL prefixes")
    return tuple((upstream, mirror) for upstream, mirror in table.items() if upstream)


def combine(env_text: str | None, config_text: str | None, config_source: str) -> MirrorTable:
    """The environment's pairs first: for the same upstream prefix they win over the file's."""
    env_pairs = parse_pairs(env_text) if env_text and env_text.strip() else ()
    file_pairs = parse_config(config_text, config_source) if config_text else ()
    seen = {upstream for upstream, _ in env_pairs}
    pairs = env_pairs + tuple(p for p in file_pairs if p[0] not in seen)
    sources = ((ENV_VAR,) if env_pairs else ()) + ((config_source,) if file_pairs else ())
    return MirrorTable(pairs, sources)


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    from envtrack.endpoints import config_dir

    return config_dir(environ) / CONFIG_FILE


def load(environ: Mapping[str, str] | None = None) -> MirrorTable:
    """The table in force for this process: ENVTRACK_MIRRORS, then the config file."""
    environ = os.environ if environ is None else environ
    path = config_path(environ)
    try:
        config_text = path.read_text(encoding="utf-8")
    except OSError:
        config_text = None
    return combine(environ.get(ENV_VAR), config_text, str(path))
