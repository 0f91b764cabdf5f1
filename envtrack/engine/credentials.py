"""Registry credentials found the way the docker CLI finds them, for the Engine's X-Registry-Auth.

`$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`): `credHelpers[REGISTRY]` names a
helper for one registry, else `credsStore` one for all, else `auths[REGISTRY]` holds
`auth` (base64 `user:password`) or an `identitytoken`. A helper is the program
`docker-credential-NAME`: `get` with the registry on stdin prints
`{"ServerURL", "Username", "Secret"}` (Username `<token>`: Secret is an identity token).
Docker Hub's key is `https://index.docker.io/v1/`, as `docker login` writes it.
"""

from __future__ import annotations

import base64
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from envtrack.endpoints import docker_config_dir
from envtrack.errors import EnvtrackError

DOCKER_HUB = "docker.io"
DOCKER_HUB_KEY = "https://index.docker.io/v1/"
HELPER_TIMEOUT = 30


@dataclass(frozen=True)
class Credential:
    username: str = ""
    password: str = ""
    identity_token: str = ""

    def header(self, registry: str) -> str:
        """The X-Registry-Auth value: base64url JSON, as the docker CLI sends it."""
        body = ({"identitytoken": self.identity_token} if self.identity_token
                else {"username": self.username, "password": self.password})
        body["serveraddress"] = DOCKER_HUB_KEY if registry == DOCKER_HUB else registry
        return base64.urlsafe_b64encode(json.dumps(body).encode()).decode()


def registry_of(ref: str) -> str:
    """The registry host of an image reference, as docker decides it (`docker.io` when the first
    component is no host: it has no dot or colon and is not `localhost`)."""
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return DOCKER_HUB if first in ("index.docker.io", "registry-1.docker.io") else first
    return DOCKER_HUB


def hostname_of(key: str) -> str:
    """A config.json key as the registry it means: schemes and paths dropped (docker's ConvertToHostname)."""
    host = key.split("://", 1)[-1].split("/", 1)[0]
    return DOCKER_HUB if host in ("index.docker.io", "registry-1.docker.io") else host


Runner = Callable[[list[str], str], tuple[int, str, str]]


def run_helper(command: list[str], stdin: str) -> tuple[int, str, str]:
    try:
        proc = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=HELPER_TIMEOUT)
    except FileNotFoundError:
        return 127, "", f"{command[0]} not found on PATH"
    except subprocess.TimeoutExpired:
        return 124, "", f"{command[0]} did not answer within {HELPER_TIMEOUT} s"
    return proc.returncode, proc.stdout, proc.stderr


def credential_for(registry: str, environ: Mapping[str, str] | None = None, *,
                   runner: Runner = run_helper) -> Credential | None:
    """REGISTRY's credential from the docker CLI's configuration, None when it has none (anonymous)."""
    config = read_config(docker_config_dir(environ) / "config.json")
    helpers = config.get("credHelpers") or {}
    named = _key_in(helpers, registry)
    helper = helpers[named] if named else config.get("credsStore")
    if helper:
        found = from_helper(str(helper), registry, runner)
        if found is not None:
            return found
    key = _key_in(config.get("auths") or {}, registry)
    return from_auth_entry((config.get("auths") or {}).get(key) or {}, registry) if key else None


def read_config(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise EnvtrackError(f"{path}: not a readable docker config ({error})") from None
    return data if isinstance(data, dict) else {}


def _key_in(table: dict, registry: str) -> str | None:
    """The key of TABLE that names REGISTRY, however it is spelt (`https://HOST/v1/`, `HOST`)."""
    return next((key for key in table if hostname_of(str(key)) == registry), None)


def from_auth_entry(entry: dict, registry: str) -> Credential | None:
    if entry.get("identitytoken"):
        return Credential(identity_token=str(entry["identitytoken"]))
    if entry.get("auth"):
        try:
            user, _, password = base64.b64decode(str(entry["auth"])).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise EnvtrackError(f"the docker config's auth for {registry} is not base64 `user:password`",
                                hint=f"run `docker login {registry}` again") from None
        return Credential(user, password)
    if entry.get("username"):
        return Credential(str(entry["username"]), str(entry.get("password", "")))
    return None


def from_helper(helper: str, registry: str, runner: Runner) -> Credential | None:
    """`docker-credential-HELPER get`; None when it has nothing for REGISTRY."""
    program = f"docker-credential-{helper}"
    code, out, err = runner([program, "get"], DOCKER_HUB_KEY if registry == DOCKER_HUB else registry)
    if code != 0:
        if "credentials not found" in (out + err).lower():
            return None
        detail = (err or out).strip().splitlines()[-1:] or [f"exit {code}"]
        raise EnvtrackError(f"credential helper {program} failed for {registry}: {detail[0]}",
                            hint=f"run `docker login {registry}`")
    try:
        answer = json.loads(out)
    except ValueError:
        raise EnvtrackError(f"credential helper {program} printed no JSON for {registry}") from None
    if answer.get("Username") == "<token>":
        return Credential(identity_token=str(answer.get("Secret", "")))
    return Credential(str(answer.get("Username", "")), str(answer.get("Secret", "")))
