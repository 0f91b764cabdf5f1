"""Images to and from registries, through the Engine, as `docker pull` / `docker push` do.

The Engine does the registry work itself (its mirrors, insecure-registry and proxy settings
apply, local or remote alike); envtrack hands it the docker CLI's credentials
(envtrack.engine.credentials) as X-Registry-Auth and reads the progress it streams. Every
failure is one line naming the reference, the registry and the reason.
"""

from __future__ import annotations

import time
from typing import Callable
from urllib.parse import quote

from envtrack.endpoints import EngineEndpoint
from envtrack.engine import api
from envtrack.engine.credentials import credential_for, registry_of
from envtrack.errors import EnvtrackError

Progress = Callable[[str], None]   # one human-readable line of pull/push progress
PROGRESS_EVERY = 1.0               # seconds between two "Downloading" lines of one layer


def split_ref(ref: str) -> tuple[str, str]:
    """(repository, tag or digest) as /images/create takes them: `host:5000/a/b:1` -> (`host:5000/a/b`, `1`)."""
    if "@" in ref:
        name, digest = ref.split("@", 1)
        return name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name, digest
    head, _, last = ref.rpartition("/")
    if ":" in last:
        last, tag = last.split(":", 1)
        return f"{head}/{last}" if head else last, tag
    return ref, "latest"


def auth_headers(ref: str) -> dict[str, str]:
    registry = registry_of(ref)
    credential = credential_for(registry)
    return {"X-Registry-Auth": credential.header(registry)} if credential else {}


def pull(endpoint: EngineEndpoint, ref: str, progress: Progress | None = None, *, where: str = "") -> dict:
    """Pull REF into the Engine at ENDPOINT; its inspect document afterwards."""
    name, tag = split_ref(ref)
    reporter = _Reporter(progress)
    status, body = api.stream_json(endpoint, "POST", "/images/create", {"fromImage": name, "tag": tag},
                                   auth_headers(ref), reporter.on_message)
    failure = _message(body) if status >= 300 else reporter.error
    if failure:
        raise registry_failure("pull", ref, failure, where)
    found = api.inspect_image(endpoint, ref)
    if found is None:
        raise registry_failure("pull", ref, "the Engine reported success but has no such image", where)
    return found


def ensure(endpoint: EngineEndpoint, ref: str, *, where: str = "", progress: Progress | None = None) -> dict:
    """REF's image in the Engine (its inspect), pulled when missing, as `docker run` does."""
    found = api.inspect_image(endpoint, ref)
    return found if found is not None else pull(endpoint, ref, progress, where=where)


def push(endpoint: EngineEndpoint, ref: str, progress: Progress | None = None) -> str:
    """Push the Engine's REF; the manifest digest the registry stored."""
    name, tag = split_ref(ref)
    reporter = _Reporter(progress)
    status, body = api.stream_json(endpoint, "POST", f"/images/{quote(name, safe='')}/push", {"tag": tag},
                                   auth_headers(ref) or {"X-Registry-Auth": "e30="},   # `{}`: the Engine wants one
                                   reporter.on_message)
    failure = _message(body) if status >= 300 else reporter.error
    if failure:
        raise registry_failure("push", ref, failure)
    if not reporter.digest:
        raise registry_failure("push", ref, "the Engine reported no digest")
    return reporter.digest


def remote_digest(endpoint: EngineEndpoint, ref: str) -> str:
    """The digest REF has in its registry now (the Engine's /distribution call: no download)."""
    status, body = api.request(endpoint, "GET", f"/distribution/{quote(ref, safe='')}/json", headers=auth_headers(ref))
    if status != 200 or not isinstance(body, dict):
        raise registry_failure("resolve", ref, _message(body) or f"HTTP {status}")
    return str((body.get("Descriptor") or {}).get("digest", ""))


def repo_digest(found: dict, ref: str) -> str:
    """The `repo@sha256:...` of FOUND (an image inspect) in REF's repository, "" for an image no
    registry gave (built or loaded here)."""
    name = split_ref(ref)[0]
    wanted = {name, f"docker.io/{name}", f"docker.io/library/{name}"}
    for entry in found.get("RepoDigests") or []:
        repo, _, digest = entry.partition("@")
        if repo in wanted or repo.removeprefix("docker.io/").removeprefix("library/") in wanted:
            return f"{name}@{digest}"
    return ""


def registry_failure(action: str, ref: str, detail: str, where: str = "") -> EnvtrackError:
    """One line: what failed, the registry, the reason in a word, the Engine's own words, what to do."""
    registry = registry_of(ref)
    reason, hint = classify(detail, registry)
    detail = " ".join(detail.split())[:240]
    prefix = f"{where}: " if where else ""
    return EnvtrackError(f"{prefix}cannot {action} {ref}: {registry}: {reason} ({detail}){hint}")


def classify(detail: str, registry: str) -> tuple[str, str]:
    """(reason, `; what to do`) from the Engine's error text."""
    low = detail.lower()
    login = f"; run `docker login {registry}`"
    if "may require 'docker login'" in low:
        return "not found, or it needs credentials", login
    if any(word in low for word in ("unauthorized", "authentication required", "no basic auth credentials",
                                    "access to the resource is denied", "denied:")):
        return "unauthorized", login
    if any(word in low for word in ("x509", "tls:", "certificate", "gave http response to https client")):
        return "TLS failure", f"; check its certificate, or list it in the Engine's insecure-registries"
    if any(word in low for word in ("connection refused", "no such host", "timeout", "network is unreachable",
                                    "connection reset", "dial tcp", "eof")):
        return "unreachable", ""
    if any(word in low for word in ("not found", "manifest unknown", "name unknown", "does not exist")):
        return "not found", ""
    return "failed", ""


def _message(body: object) -> str:
    return str(body.get("message", "")) if isinstance(body, dict) else ""


class _Reporter:
    """Turns the Engine's progress messages into lines: a layer's status when it changes, its
    "Downloading"/"Pushing" figures at most every PROGRESS_EVERY seconds; keeps error and digest."""

    def __init__(self, progress: Progress | None):
        self.progress = progress
        self.error = ""
        self.digest = ""
        self._last: dict[str, tuple[str, float]] = {}

    def on_message(self, message: dict) -> None:
        if message.get("error") or message.get("errorDetail"):
            self.error = str(message.get("error") or (message.get("errorDetail") or {}).get("message", ""))
            return
        aux = message.get("aux") or {}
        if aux.get("Digest"):
            self.digest = str(aux["Digest"])
        status, layer = str(message.get("status", "")), str(message.get("id", ""))
        if not status or self.progress is None:
            return
        now = time.monotonic()
        before, when = self._last.get(layer, ("", 0.0))
        if status == before and now - when < PROGRESS_EVERY:
            return
        self._last[layer] = (status, now)
        figures = message.get("progress") or ""
        figures = figures.rsplit("]", 1)[-1].strip() if figures else ""
        self.progress(" ".join(part for part in (f"{layer}:" if layer else "", status, figures) if part))
