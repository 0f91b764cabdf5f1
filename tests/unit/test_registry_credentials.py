"""Registry credentials as the docker CLI finds them, and the one-line reasons of a failed pull."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from envtrack.engine.credentials import Credential, credential_for, registry_of
from envtrack.engine.registry import classify, repo_digest, split_ref
from envtrack.errors import EnvtrackError


def config(tmp_path: Path, **data) -> dict:
    (tmp_path / "config.json").write_text(json.dumps(data))
    return {"DOCKER_CONFIG": str(tmp_path)}


def basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("ref, registry", [
    ("ubuntu:22.04", "docker.io"), ("team/base:1", "docker.io"), ("127.0.0.1:5070/team/base:1", "127.0.0.1:5070"),
    ("localhost/x", "localhost"), ("ghcr.io/o/x@sha256:ab", "ghcr.io"), ("index.docker.io/library/x", "docker.io"),
])
def test_the_registry_of_a_reference_is_decided_as_docker_does(ref: str, registry: str) -> None:
    assert registry_of(ref) == registry


@pytest.mark.parametrize("ref, parts", [
    ("ubuntu", ("ubuntu", "latest")), ("ubuntu:22.04", ("ubuntu", "22.04")),
    ("127.0.0.1:5070/team/base", ("127.0.0.1:5070/team/base", "latest")),
    ("127.0.0.1:5070/team/base:1", ("127.0.0.1:5070/team/base", "1")),
    ("127.0.0.1:5070/team/base:1@sha256:ab", ("127.0.0.1:5070/team/base", "sha256:ab")),
])
def test_references_split_into_repository_and_tag(ref: str, parts: tuple[str, str]) -> None:
    assert split_ref(ref) == parts


def test_auths_entries_are_found_however_the_key_is_spelt(tmp_path: Path) -> None:
    env = config(tmp_path, auths={"http://127.0.0.1:5070/v2/": {"auth": basic("me", "pw:with:colons")},
                                  "https://index.docker.io/v1/": {"identitytoken": "tok"}})
    assert credential_for("127.0.0.1:5070", env) == Credential("me", "pw:with:colons")
    assert credential_for("docker.io", env) == Credential(identity_token="tok")
    assert credential_for("ghcr.io", env) is None


def test_a_cred_helper_for_the_registry_wins_over_the_store_and_the_file(tmp_path: Path) -> None:
    env = config(tmp_path, credsStore="store", credHelpers={"127.0.0.1:5070": "one"},
                 auths={"127.0.0.1:5070": {"auth": basic("file", "x")}})
    calls = []

    def runner(command, stdin):
        calls.append((command, stdin))
        return 0, json.dumps({"ServerURL": stdin, "Username": command[0], "Secret": "s"}), ""

    assert credential_for("127.0.0.1:5070", env, runner=runner) == Credential("docker-credential-one", "s")
    assert credential_for("docker.io", env, runner=runner) == Credential("docker-credential-store", "s")
    assert calls == [(["docker-credential-one", "get"], "127.0.0.1:5070"),
                     (["docker-credential-store", "get"], "https://index.docker.io/v1/")]


def test_a_helper_without_credentials_means_anonymous_and_a_broken_one_is_one_line(tmp_path: Path) -> None:
    env = config(tmp_path, credsStore="pass")
    assert credential_for("r.example:1", env, runner=lambda c, s: (1, "credentials not found in native keychain\n", "")) is None
    with pytest.raises(EnvtrackError, match=r"docker-credential-pass failed for r.example:1: gpg: locked"):
        credential_for("r.example:1", env, runner=lambda c, s: (1, "", "warming up\ngpg: locked\n"))
    token = credential_for("r.example:1", env, runner=lambda c, s: (0, '{"Username": "<token>", "Secret": "t"}', ""))
    assert token == Credential(identity_token="t")


def test_the_auth_header_is_base64url_json_naming_the_server() -> None:
    header = Credential("me", "pw").header("docker.io")
    assert json.loads(base64.urlsafe_b64decode(header)) == {
        "username": "me", "password": "pw", "serveraddress": "https://index.docker.io/v1/"}


@pytest.mark.parametrize("detail, reason", [
    ("Head \"http://127.0.0.1:5/v2/a/manifests/1\": no basic auth credentials", "unauthorized"),
    ("unauthorized: authentication required", "unauthorized"),
    ("manifest for 127.0.0.1:5/a:1 not found: manifest unknown: manifest unknown", "not found"),
    ("Get \"http://127.0.0.1:1/v2/\": dial tcp 127.0.0.1:1: connect: connection refused", "unreachable"),
    ("Get \"https://r:443/v2/\": x509: certificate signed by unknown authority", "TLS failure"),
    ("pull access denied for nope, repository does not exist or may require 'docker login'",
     "not found, or it needs credentials"),
])
def test_failures_are_classified_by_the_engines_words(detail: str, reason: str) -> None:
    found, hint = classify(detail, "127.0.0.1:5")
    assert found == reason
    assert ("docker login 127.0.0.1:5" in hint) == ("credentials" in reason or reason == "unauthorized")


def test_the_digest_recorded_is_the_one_of_the_references_repository() -> None:
    found = {"RepoDigests": ["other/x@sha256:00", "127.0.0.1:5/team/base@sha256:11", "ubuntu@sha256:22"]}
    assert repo_digest(found, "127.0.0.1:5/team/base:1") == "127.0.0.1:5/team/base@sha256:11"
    assert repo_digest(found, "ubuntu:22.04") == "ubuntu@sha256:22"
    assert repo_digest({"RepoDigests": []}, "envtrack/base:bookworm") == ""
