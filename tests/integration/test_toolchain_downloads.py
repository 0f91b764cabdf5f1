"""The toolchain builtins download what envd downloads, on the real Engine, from stand-ins of
their upstreams (tests/support/downloads.py) that ENVTRACK_MIRRORS points them at: each tool
then runs inside with the version asked, a rebuild is answered from BuildKit's cache, and a
download whose checksum does not match fails at its step in one line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import BASE_IMAGE, run_cli
from support.downloads import Upstreams, script

UV_TOP = "uv-x86_64-unknown-linux-gnu"
# uv's stand-in: its version, and `python install` fetching below UV_PYTHON_INSTALL_MIRROR as uv does.
FAKE_UV = script('''case "$1 $2" in
  "--version ") echo "uv 0.9.22" ;;
  "python install") python3 -c 'import os, sys, urllib.request
urllib.request.urlopen(os.environ["UV_PYTHON_INSTALL_MIRROR"] + "/cpython-" + sys.argv[1] + ".tar.gz").read()' "$3" \\
    && mkdir -p "/root/.local/share/uv/python/cpython-$3" ;;
  *) exit 2 ;;
esac''')

TOOLCHAINS = f'''\
def build():
    base(image="{BASE_IMAGE}")
    install.go(version="1.22.1")
    install.nodejs(version="20.11.1")
    install.pixi()
    install.codex()
    install.rust()
    install.uv(python_version="3.12")
'''


@pytest.fixture(scope="module")
def mirrors(tmp_path_factory):
    upstreams = Upstreams(tmp_path_factory.mktemp("upstreams"))
    upstreams.go("1.22.1")
    upstreams.nodejs("20.11.1")
    upstreams.github_release("prefix-dev/pixi", "v0.62.2", "pixi-x86_64-unknown-linux-musl.tar.gz",
                             {"pixi": script('echo "pixi 0.62.2"')})
    # install.codex() asks GitHub's release list for the newest stable release, as envd does.
    upstreams.github_releases("openai/codex", [{"tag_name": "rust-v0.99.0-alpha.2", "prerelease": True},
                                               {"tag_name": "rust-v0.99.0", "prerelease": False}])
    upstreams.github_release("openai/codex", "rust-v0.99.0", "codex-x86_64-unknown-linux-musl.tar.gz",
                             {"codex-x86_64-unknown-linux-musl": script('echo "codex-cli 0.99.0"')})
    upstreams.github_release("astral-sh/uv", "0.9.22", f"{UV_TOP}.tar.gz",
                             {f"{UV_TOP}/uv": FAKE_UV, f"{UV_TOP}/uvx": script("exit 0")})
    pythons = upstreams.folder("https://github.com/") / "astral-sh/python-build-standalone/releases/download"
    pythons.mkdir(parents=True)
    (pythons / "cpython-3.12.tar.gz").write_bytes(b"a Python\n")
    upstreams.rustup("1.83.0")
    upstreams.julia(b"not the archive envd pinned\n")
    upstreams.vsix("tamasfe", "even-better-toml", "0.19.2")
    upstreams.open_vsx_latest("redhat", "vscode-yaml", "1.15.0")
    upstreams.folder("https://pkg.julialang.org/").mkdir(parents=True)
    (upstreams.folder("https://pkg.julialang.org/") / "registries").write_text("General\n")
    with upstreams.serve() as setting:
        yield setting


@pytest.fixture()
def project(scratch_project):
    """conftest's project directory: `down` and its images removed afterwards."""
    return scratch_project


def build(project: Path, mirrors: str, *, check: bool = True):
    return run_cli("build", "--progress", "quiet", "--json", cwd=project, env={"ENVTRACK_MIRRORS": mirrors},
                   check=check, timeout=1200)


def test_each_toolchain_runs_with_its_version_and_a_rebuild_is_cached(project, mirrors, docker_client) -> None:
    (project / "build.envd").write_text(TOOLCHAINS)
    first = json.loads(build(project, mirrors).stdout)
    out = docker_client.containers.run(first["image"], entrypoint=["sh", "-c",
        "go version; node --version; pixi --version; codex --version; rustc --version; uv --version; "
        "ls /root/.local/share/uv/python; echo $CARGO_HOME $UV_PYTHON_PREFERENCE"], remove=True).decode()
    assert out.splitlines() == ["go version go1.22.1 linux/amd64", "v20.11.1", "pixi 0.62.2", "codex-cli 0.99.0",
                                "rustc 1.83.0", "uv 0.9.22", "cpython-3.12", "/opt/rust only-managed"], out

    docker_client.images.remove(first["image"], force=True)   # nothing to find by tag: BuildKit answers
    (project / ".envtrack" / "build-stamp.json").unlink()
    second = json.loads(build(project, mirrors).stdout)
    assert second["image"] == first["image"]
    states = [step["state"] for step in second["steps"]]
    # The base image's source is resolved again (`done`); every download and install is BuildKit's cache.
    assert states[1:] == ["cached"] * (len(states) - 1), second["steps"]


def test_plan_json_shows_each_downloads_effective_url(project, mirrors) -> None:
    (project / "build.envd").write_text(TOOLCHAINS)
    proc = run_cli("plan", "--json", cwd=project, env={"ENVTRACK_MIRRORS": mirrors}, check=True)
    downloads = {d["upstream"]: d for d in json.loads(proc.stdout)["downloads"]}
    go = downloads["https://go.dev/dl/go1.22.1.linux-amd64.tar.gz"]
    assert go["url"].endswith("/go/go1.22.1.linux-amd64.tar.gz") and go["url"].startswith("http://172.17.0.1:")
    assert downloads["https://static.rust-lang.org"]["fetched_by"] == "installer"


def test_a_checksum_mismatch_fails_at_the_step_in_one_line(project, mirrors) -> None:
    (project / "build.envd").write_text(f'def build():\n    base(image="{BASE_IMAGE}")\n    install.julia()\n')
    proc = build(project, mirrors, check=False)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    served = hashlib.sha256(b"not the archive envd pinned\n").hexdigest()
    assert lines[0].startswith("envtrack: build.envd:3:5: install.julia: cannot fetch http://172.17.0.1:"), lines
    assert "julia-1.10.10-linux-x86_64.tar.gz" in lines[0] and "mirrored by https://julialang-s3" in lines[0]
    assert served in lines[0] or "digest" in lines[0] or "checksum" in lines[0], lines


# Julia's stand-in: Pkg.add asks the package server in JULIA_PKG_SERVER first, as Pkg does.
FAKE_JULIA = "\n".join([
    "mkdir -p /opt/julia/bin",
    "printf '%s\\n' '#!/bin/sh' "
    "'python3 -c \"import os, urllib.request; urllib.request.urlopen(os.environ[\\\"JULIA_PKG_SERVER\\\"] + \\\"/registries\\\").read()\"' "
    "'echo \"$2\" > \"$JULIA_DEPOT_PATH/added\"' > /opt/julia/bin/julia",
    "chmod 755 /opt/julia/bin/julia",
])


def test_vscode_extensions_and_julia_packages_come_through_the_mirrors(project, mirrors, docker_client) -> None:
    (project / "build.envd").write_text(f'''\
def build():
    base(image="{BASE_IMAGE}")
    install.vscode_extensions(name=["tamasfe.even-better-toml-0.19.2", "redhat.vscode-yaml"])
    run(commands={FAKE_JULIA.splitlines()!r})
    install.julia_packages(name=["JSON"])
''')
    image = json.loads(build(project, mirrors).stdout)["image"]
    out = docker_client.containers.run(image, entrypoint=["sh", "-c",
        "cat /root/.vscode-server/extensions/tamasfe.even-better-toml-0.19.2@linux-x64/package.json; echo; "
        "cat /root/.vscode-server/extensions/redhat.vscode-yaml-1.15.0@linux-x64/package.json; echo; "
        "cat $JULIA_DEPOT_PATH/added; echo $JULIA_PKG_SERVER"], remove=True).decode()
    lines = out.splitlines()
    assert lines[0] == '{"name": "even-better-toml", "version": "0.19.2"}', out
    assert lines[1] == '{"name": "vscode-yaml", "version": "1.15.0"}', out   # Open VSX's newest, asked as envd asks
    assert lines[2] == 'using Pkg; Pkg.add(["JSON"])' and lines[3].endswith("/julia-pkg"), out


def test_a_newest_release_nobody_answers_for_fails_the_build_in_one_line(project, mirrors) -> None:
    (project / "build.envd").write_text(f'def build():\n    base(image="{BASE_IMAGE}")\n    install.codex()\n')
    unanswered = mirrors.replace("/github-api/", "/no-such-api/")
    proc = build(project, unanswered, check=False)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("envtrack: build.envd:3:5: install.codex: cannot ask http://172.17.0.1:"), lines
    assert "/no-such-api/repos/openai/codex/releases?per_page=10 for the newest codex: HTTP 404" in lines[0], lines
    assert "mirrored by https://api.github.com/=" in lines[0], lines


def test_an_extension_open_vsx_publishes_only_per_platform_comes_from_its_platform_file(
        project, tmp_path, docker_client) -> None:
    # Open VSX publishes these for linux-x64 (and darwin-arm64) only: no universal .vsix exists,
    # so the build must take the Engine platform's file, newest or pinned.
    upstreams = Upstreams(tmp_path / "upstreams")
    upstreams.open_vsx_latest("rust-lang", "rust-analyzer", "0.3.2", "linux-x64")
    upstreams.vsix("vadimcn", "vscode-lldb", "1.11.4", "linux-x64")
    upstreams.vsix("vadimcn", "vscode-lldb", "1.11.4", "darwin-arm64")
    (project / "build.envd").write_text(f'''\
def build():
    base(image="{BASE_IMAGE}")
    install.vscode_extensions(name=["rust-lang.rust-analyzer", "vadimcn.vscode-lldb-1.11.4"])
''')
    requests: list[str] = []
    with upstreams.serve(requests) as setting:
        image = json.loads(build(project, setting).stdout)["image"]
    out = docker_client.containers.run(image, entrypoint=["sh", "-c",
        "cat /root/.vscode-server/extensions/rust-lang.rust-analyzer-0.3.2@linux-x64/package.json; echo; "
        "cat /root/.vscode-server/extensions/vadimcn.vscode-lldb-1.11.4@linux-x64/package.json; echo"],
        remove=True).decode()
    assert out.splitlines() == ['{"name": "rust-analyzer", "version": "0.3.2"}',
                                '{"name": "vscode-lldb", "version": "1.11.4"}'], out
    assert "/open-vsx/api/rust-lang/rust-analyzer/linux-x64/0.3.2/file/rust-lang.rust-analyzer-0.3.2@linux-x64.vsix" \
        in requests, requests
    assert not [path for path in requests if path.endswith("-0.3.2.vsix") or path.endswith("-1.11.4.vsix")], requests


def test_every_build_asks_for_the_newest_as_envd_does_and_a_cached_one_still_comes_from_the_stamp(
        project, tmp_path, docker_client) -> None:
    upstreams = Upstreams(tmp_path / "upstreams")
    for tag in ("rust-v0.99.0", "rust-v0.99.1"):
        upstreams.github_release("openai/codex", tag, "codex-x86_64-unknown-linux-musl.tar.gz",
                                 {"codex-x86_64-unknown-linux-musl": script(f'echo "codex-cli {tag[6:]}"')})
    upstreams.github_releases("openai/codex", [{"tag_name": "rust-v0.99.0"}])
    (project / "build.envd").write_text(f'def build():\n    base(image="{BASE_IMAGE}")\n    install.codex()\n')
    releases = "/github-api/repos/openai/codex/releases?per_page=10"
    requests: list[str] = []
    with upstreams.serve(requests) as setting:
        first = json.loads(build(project, setting).stdout)
        del requests[:]
        again = json.loads(build(project, setting).stdout)   # the same newest: answered by the stamp
        assert again["cached"] and again["image"] == first["image"] and requests == [releases], requests

        upstreams.github_releases("openai/codex", [{"tag_name": "rust-v0.99.1"}, {"tag_name": "rust-v0.99.0"}])
        del requests[:]
        newer = json.loads(build(project, setting).stdout)   # build.envd unchanged, a newer release
        assert newer["image"] != first["image"] and requests.count(releases) == 1, requests
        out = docker_client.containers.run(newer["image"], entrypoint=["codex", "--version"], remove=True).decode()
        assert out.strip() == "codex-cli 0.99.1", out

        (upstreams.folder("https://api.github.com/") / "repos/openai/codex/releases").unlink()
        proc = build(project, setting, check=False)   # the stamp holds otherwise: the question still fails it
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("envtrack: build.envd:3:5: install.codex: cannot ask http://172.17.0.1:"), lines
    assert f"{releases} for the newest codex: HTTP 404" in lines[0], lines
    assert "mirrored by https://api.github.com/=" in lines[0] and "(ENVTRACK_MIRRORS)" in lines[0], lines


def test_a_cached_rebuild_of_a_project_asking_nothing_makes_no_network_call(project, tmp_path) -> None:
    upstreams = Upstreams(tmp_path / "upstreams")
    upstreams.go("1.22.1")
    (project / "build.envd").write_text(f'def build():\n    base(image="{BASE_IMAGE}")\n    install.go(version="1.22.1")\n')
    requests: list[str] = []
    with upstreams.serve(requests) as setting:
        first = json.loads(build(project, setting).stdout)
        assert requests, "the first build fetched nothing from the stand-ins"
        del requests[:]
        again = json.loads(build(project, setting).stdout)
    assert again["cached"] and again["image"] == first["image"]
    assert requests == [], requests
