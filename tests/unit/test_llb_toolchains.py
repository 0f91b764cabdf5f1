"""The toolchain builtins lower to envd's upstream URLs for a version and architecture, and to
the mirrored URLs when a mirror table is set (BuildKit's HTTP source names the URL it fetches)."""

from __future__ import annotations

import json

import pytest

from envtrack.errors import LocatedError
from envtrack.frontend.steps import Plan
from envtrack.llb.options import BuildOptions
from envtrack.mirrors import combine
from envtrack.solve.service import download_failed
from tests.unit.test_llb_compile import base, compile_steps, env_of, ops, op_of, step

MIRRORS = combine("https://go.dev/dl/=http://m/go/ https://nodejs.org/download/release/=http://m/node/ "
                  "https://sh.rustup.rs=http://m/rustup-init.sh https://static.rust-lang.org/=http://m/rust/ "
                  "https://julialang-s3.julialang.org/=http://m/julia/ https://github.com/=http://m/gh/", None, "cfg")


def http_sources(compiled) -> dict[str, dict[str, str]]:
    """URL -> the HTTP source's attributes, for every download in the graph."""
    return {op.source.identifier: dict(op.source.attrs) for op in ops(compiled).values()
            if op.WhichOneof("op") == "source" and op.source.identifier.startswith("http")}


def compiled_for(kind: str, *, arch: str = "amd64", mirrors=None, **args):
    options = BuildOptions(arch=arch, mirrors=mirrors or combine(None, None, ""))
    return compile_steps(base(), step(2, kind, **args), options=options)


CASES = [
    ("install.go", {"version": "1.22.1"}, "amd64", "https://go.dev/dl/go1.22.1.linux-amd64.tar.gz",
     "http://m/go/go1.22.1.linux-amd64.tar.gz"),
    ("install.go", {"version": ""}, "arm64", "https://go.dev/dl/go1.25.3.linux-arm64.tar.gz",
     "http://m/go/go1.25.3.linux-arm64.tar.gz"),
    ("install.nodejs", {"version": "20.11.1"}, "amd64",
     "https://nodejs.org/download/release/v20.11.1/node-v20.11.1-linux-x64.tar.xz",
     "http://m/node/v20.11.1/node-v20.11.1-linux-x64.tar.xz"),
    ("install.nodejs", {"version": ""}, "arm64",
     "https://nodejs.org/download/release/v25.1.0/node-v25.1.0-linux-arm64.tar.xz",
     "http://m/node/v25.1.0/node-v25.1.0-linux-arm64.tar.xz"),
    ("install.rust", {"version": ""}, "amd64", "https://sh.rustup.rs", "http://m/rustup-init.sh"),
    ("install.julia", {}, "amd64",
     "https://julialang-s3.julialang.org/bin/linux/x64/1.10/julia-1.10.10-linux-x86_64.tar.gz",
     "http://m/julia/bin/linux/x64/1.10/julia-1.10.10-linux-x86_64.tar.gz"),
    ("install.julia", {}, "arm64",
     "https://julialang-s3.julialang.org/bin/linux/aarch64/1.10/julia-1.10.10-linux-aarch64.tar.gz",
     "http://m/julia/bin/linux/aarch64/1.10/julia-1.10.10-linux-aarch64.tar.gz"),
    ("install.pixi", {"use_pixi_mirror": False, "pypi_index": None}, "arm64",
     "https://github.com/prefix-dev/pixi/releases/download/v0.62.2/pixi-aarch64-unknown-linux-musl.tar.gz",
     "http://m/gh/prefix-dev/pixi/releases/download/v0.62.2/pixi-aarch64-unknown-linux-musl.tar.gz"),
    ("install.codex", {"version": ""}, "amd64",
     "https://github.com/openai/codex/releases/download/rust-v0.98.0/codex-x86_64-unknown-linux-musl.tar.gz",
     "http://m/gh/openai/codex/releases/download/rust-v0.98.0/codex-x86_64-unknown-linux-musl.tar.gz"),
    ("install.uv", {"python_version": "3.12"}, "amd64",
     "https://github.com/astral-sh/uv/releases/download/0.9.22/uv-x86_64-unknown-linux-gnu.tar.gz",
     "http://m/gh/astral-sh/uv/releases/download/0.9.22/uv-x86_64-unknown-linux-gnu.tar.gz"),
]


@pytest.mark.parametrize("kind, args, arch, upstream, mirrored", CASES)
def test_the_download_is_envds_url_for_the_version_and_arch_or_its_mirror(kind, args, arch, upstream, mirrored):
    assert upstream in http_sources(compiled_for(kind, arch=arch, **args))
    compiled = compiled_for(kind, arch=arch, mirrors=MIRRORS, **args)
    assert list(http_sources(compiled)) == [mirrored]
    assert [d.url for d in compiled.downloads if d.upstream == upstream] == [mirrored]


def test_julia_is_checked_against_envds_checksum():
    (attrs,) = http_sources(compiled_for("install.julia")).values()
    assert attrs["http.checksum"] == "sha256:6a78a03a71c7ab792e8673dc5cedb918e037f081ceb58b50971dfb7c64c5bf81"


def test_go_unpacks_into_usr_local_and_adds_envds_path():
    compiled = compiled_for("install.go", version="1.22.1")
    op = op_of(compiled, "install.go")
    assert "tar -C /usr/local -xzf /tmp/envtrack-download/go.tar.gz" in op.exec.meta.args[-1]
    assert [m.dest for m in op.exec.mounts if m.readonly] == ["/tmp/envtrack-download"]
    assert compiled.image_config.env_dict()["PATH"].endswith(":/usr/local/go/bin")


def test_rustup_gets_the_mirrored_dist_server_and_update_root():
    compiled = compiled_for("install.rust", mirrors=MIRRORS, version="")
    script = op_of(compiled, "install.rust").exec.meta.args[-1]
    assert "RUSTUP_DIST_SERVER=http://m/rust " in script and "RUSTUP_UPDATE_ROOT=http://m/rust/rustup " in script
    env = compiled.image_config.env_dict()
    assert env["CARGO_HOME"] == "/opt/rust" and env["PATH"].endswith(":/opt/rust/bin")
    assert env["RUSTUP_DIST_SERVER"] == "http://m/rust"
    unmirrored = compiled_for("install.rust", version="1.27.1")
    assert "RUSTUP_DIST_SERVER=https://static.rust-lang.org " in op_of(unmirrored, "install.rust").exec.meta.args[-1]
    assert env_of(op_of(unmirrored, "install.rust"))["RUSTUP_VERSION"] == "1.27.1"   # envd's meaning of version


def test_uv_pythons_come_from_the_mirror_when_one_is_set():
    mirrors = combine("https://github.com/astral-sh/python-build-standalone/releases/download/=http://m/pbs/",
                      None, "cfg")
    script = op_of(compiled_for("install.uv", mirrors=mirrors, python_version="3.12"), "install.uv").exec.meta.args[-1]
    assert "UV_PYTHON_INSTALL_MIRROR=http://m/pbs uv python install 3.12" in script
    plain = op_of(compiled_for("install.uv", python_version="3.12"), "install.uv").exec.meta.args[-1]
    assert "UV_PYTHON_INSTALL_MIRROR" not in plain and "uv python install 3.12" in plain


def test_an_unknown_architecture_or_a_bad_version_is_a_located_error():
    with pytest.raises(LocatedError, match="architecture riscv64"):
        compiled_for("install.go", arch="riscv64", version="")
    with pytest.raises(LocatedError, match="not a release name"):
        compiled_for("install.go", version="1.22/../x")


def test_a_failed_fetch_is_one_line_with_the_url_and_the_setting():
    compiled = compiled_for("install.go", version="1.22.1")
    ((digest, download),) = compiled.downloads_by_vertex.items()
    error = download_failed("failed to load cache key: connection refused", digest, compiled.downloads_by_vertex)
    assert error.message == ("build.envd:2:5: install.go: cannot fetch https://go.dev/dl/go1.22.1.linux-amd64.tar.gz: "
                             "failed to load cache key: connection refused; set ENVTRACK_MIRRORS="
                             "'https://go.dev/dl/=MIRROR_URL/' to fetch it from a mirror")
    assert "\n" not in error.message


def script_of(compiled, kind: str, nth: int = 0) -> str:
    return op_of(compiled, kind, nth).exec.meta.args[-1]


def test_r_lang_uses_crans_ubuntu_repository_as_envd_or_debians_r_base():
    ubuntu = compile_steps(base(image="ubuntu:22.04"), step(2, "install.r_lang"),
                           options=BuildOptions(mirrors=combine("https://cloud.r-project.org/=http://m/cran/", None, "cfg")))
    assert list(http_sources(ubuntu)) == ["http://m/cran/bin/linux/ubuntu/marutter_pubkey.asc"]
    script = script_of(ubuntu, "install.r_lang")
    assert "deb [signed-by=/usr/share/keyrings/r-project.asc] http://m/cran/bin/linux/ubuntu jammy-cran40/" in script
    assert "install -y --no-install-recommends r-base" in script
    debian = compile_steps(base(), step(2, "install.r_lang"))
    assert http_sources(debian) == {} and "r-base" in script_of(debian, "install.r_lang")
    assert "r-project" not in script_of(debian, "install.r_lang")


def test_r_packages_come_from_the_cran_mirror_setting_or_envds_default_through_the_table():
    mirrors = combine("https://cran.rstudio.com/=http://m/cran/", None, "cfg")
    plain = compile_steps(base(), step(2, "install.r_packages", name=["jsonlite", "data.table"]), options=BuildOptions(mirrors=mirrors))
    script = script_of(plain, "install.r_packages")
    assert 'options(repos = "http://m/cran"); install.packages(c("jsonlite", "data.table"), lib = "/usr/local/lib/R/site-library")' in script
    assert "envtrack: install.r_packages: R could not install jsonlite data.table from http://m/cran" in script
    chosen = compile_steps(base(), step(2, "install.r_packages", name=["jsonlite"]),
                           step(3, "config.cran_mirror", url="https://cloud.r-project.org"))
    assert 'options(repos = "https://cloud.r-project.org")' in script_of(chosen, "install.r_packages")
    with pytest.raises(LocatedError, match="not a package name"):
        compile_steps(base(), step(2, "install.r_packages", name=['x"); system("id']))


def test_julia_packages_use_envds_depot_and_the_mirrored_package_server():
    mirrors = combine("https://pkg.julialang.org/=http://m/julia-pkg/", None, "cfg")
    compiled = compile_steps(base(), step(2, "install.julia_packages", name=["JSON", "CSV"]), options=BuildOptions(mirrors=mirrors))
    op = op_of(compiled, "install.julia_packages")
    assert """julia -e 'using Pkg; Pkg.add(["JSON", "CSV"])'""" in op.exec.meta.args[-1]
    assert env_of(op)["JULIA_PKG_SERVER"] == "http://m/julia-pkg" and env_of(op)["JULIA_DEPOT_PATH"] == "/opt/julia/user_packages"
    assert compiled.image_config.env_dict()["JULIA_PKG_SERVER"] == "http://m/julia-pkg"
    plain = op_of(compile_steps(base(), step(2, "install.julia_packages", name=["JSON"])), "install.julia_packages")
    assert "JULIA_PKG_SERVER" not in env_of(plain)


def test_vscode_extensions_come_from_open_vsx_into_envds_folder():
    compiled = compiled_for("install.vscode_extensions", arch="arm64", name=["ms-python.python-2024.2.1"])
    assert list(http_sources(compiled)) == [
        "https://open-vsx.org/api/ms-python/python/2024.2.1/file/ms-python.python-2024.2.1.vsix"]
    assert ("mv /tmp/vsix/extension /root/.vscode-server/extensions/ms-python.python-2024.2.1@linux-arm64"
            in script_of(compiled, "install.vscode_extensions"))
    mirrored = compiled_for("install.vscode_extensions", name=["ms-python.python-2024.2.1"],
                            mirrors=combine("https://open-vsx.org/=http://m/vsx/", None, "cfg"))
    assert list(http_sources(mirrored)) == ["http://m/vsx/api/ms-python/python/2024.2.1/file/ms-python.python-2024.2.1.vsix"]
    with pytest.raises(LocatedError, match="names no version"):
        compiled_for("install.vscode_extensions", name=["ms-python.python"])


def test_rstudio_server_is_the_images_own_or_posits_deb_through_the_mirror_and_publishes_its_port():
    compiled = compiled_for("config.rstudio_server")
    script = script_of(compiled, "config.rstudio_server")
    assert script.splitlines()[1].startswith("[ -x /usr/lib/rstudio-server/bin/rserver ] || (")
    assert "install -y --no-install-recommends /tmp/envtrack-download/rstudio-server.deb" in script
    assert "8787/tcp" in compiled.image_config.exposed_ports
    assert list(http_sources(compiled)) == [
        "https://download2.rstudio.org/server/jammy/amd64/rstudio-server-2024.12.1-563-amd64.deb"]
    mirrored = compiled_for("config.rstudio_server", arch="arm64",
                            mirrors=combine("https://download2.rstudio.org/=http://m/posit/", None, "cfg"))
    assert list(http_sources(mirrored)) == ["http://m/posit/server/jammy/arm64/rstudio-server-2024.12.1-563-arm64.deb"]


def test_up_supervises_rserver_in_the_foreground_and_publishes_8787_on_a_free_port(tmp_path):
    from envtrack.container.spec import runtime_of

    runtime = runtime_of([step(2, "config.rstudio_server")], tmp_path, "/root")
    command = runtime.main_command()[-1]
    assert ("supervise /var/log/envtrack/rstudio.log "
            "'exec /usr/lib/rstudio-server/bin/rserver --server-daemonize=0' &") in command
    assert [(p.container_port, p.host_ip, p.host_port) for p in runtime.ports] == [("8787/tcp", "127.0.0.1", 0)]


def test_status_names_each_published_port_and_the_web_services_url():
    from envtrack.container.engine import ContainerInfo
    from envtrack.container.service import services_of

    document = {"Id": "c1", "State": {"Status": "running"}, "Config": {},
                "NetworkSettings": {"Ports": {"8787/tcp": [{"HostIp": "127.0.0.1", "HostPort": "49153"}],
                                              "2222/tcp": None}}}
    info = ContainerInfo.from_inspect(document)
    assert info.ports == (("8787/tcp", "127.0.0.1:49153"),)
    assert services_of(info) == {"rstudio": "http://127.0.0.1:49153"}
    assert services_of(info._replace(status="exited")) == {} and services_of(None) == {}


def test_plan_json_lists_each_download_and_a_bad_mirror_setting_is_bad_input(tmp_path):
    from conftest import run_cli

    (tmp_path / "build.envd").write_text('def build():\n    base(image="envtrack/base:bookworm")\n    install.go(version="1.22.1")\n')
    env = {"ENVTRACK_MIRRORS": "https://go.dev/dl/=http://m/go/", "XDG_CONFIG_HOME": str(tmp_path)}
    proc = run_cli("plan", "--json", cwd=tmp_path, env=env, check=True)
    (download,) = json.loads(proc.stdout)["downloads"]
    assert download["url"].startswith("http://m/go/go1.22.1.linux-") and download["fetched_by"] == "buildkit"
    bad = run_cli("plan", "--json", cwd=tmp_path, env=dict(env, ENVTRACK_MIRRORS="https://go.dev/dl/"))
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "envtrack: ENVTRACK_MIRRORS: 'https://go.dev/dl/' is not UPSTREAM_PREFIX=MIRROR_PREFIX"]


def test_plan_json_lists_the_downloads_beside_what_the_build_asks_first(tmp_path):
    from conftest import run_cli

    (tmp_path / "build.envd").write_text(
        'def build():\n    base(image="envtrack/base:bookworm")\n    install.go(version="1.22.1")\n'
        '    install.vscode_extensions(["ms-python.python", "a.b-1.0.0"])\n')
    proc = run_cli("plan", "--json", cwd=tmp_path, env={"XDG_CONFIG_HOME": str(tmp_path)}, check=True)
    rows = [(row["builtin"], row["fetched_by"], row["url"]) for row in json.loads(proc.stdout)["downloads"]]
    assert rows[0][:2] == ("install.vscode_extensions", "envtrack")
    assert rows[0][2].startswith("https://open-vsx.org/api/ms-python/python/latest?targetPlatform=linux-")
    assert rows[1] == ("install.vscode_extensions", "envtrack", "https://open-vsx.org/api/a/b/1.0.0")
    assert [row[:2] for row in rows[2:]] == [("install.go", "buildkit"), ("install.vscode_extensions", "buildkit")]
    assert rows[2][2].startswith("https://go.dev/dl/go1.22.1.linux-")
    assert rows[3][2] == "https://open-vsx.org/api/a/b/1.0.0/file/a.b-1.0.0.vsix"


def test_codex_and_extensions_ask_open_vsx_and_github_as_envd_does():
    from envtrack.llb.toolchains import newest_asks, newest_from, with_newest

    plan = Plan(file="build.envd", target="build", steps=(base(), step(2, "install.codex", version=""), step(3, "install.codex", version="rust-v0.97.0"),
                   step(4, "install.vscode_extensions", name=["a.b-1.0.0", "ms-python.python", "c.d-2.0.0@linux-arm64"])))
    asks = newest_asks(plan, "arm64")
    assert [(a.step, a.name, a.upstream, a.what) for a in asks] == [
        (1, None, "https://api.github.com/repos/openai/codex/releases?per_page=10", "the newest codex"),
        (3, 0, "https://open-vsx.org/api/a/b/1.0.0", "the file of a.b-1.0.0"),   # which publication has it
        (3, 1, "https://open-vsx.org/api/ms-python/python/latest?targetPlatform=linux-arm64",
         "the newest ms-python.python")]   # a name saying its publication asks nothing
    releases = [{"tag_name": "rust-v0.99.0-alpha.1", "prerelease": True}, {"tag_name": "rust-v0.98.1", "draft": True},
                {"tag_name": "rust-v0.98.0"}]
    assert newest_from(asks[0], releases) == "rust-v0.98.0"
    with pytest.raises(ValueError, match="no stable release among the 1 newest"):
        newest_from(asks[0], releases[:1])
    with pytest.raises(ValueError, match="names no version"):
        newest_from(asks[2], {"error": "Extension not found"})
    resolved = with_newest(plan, {asks[0]: "rust-v0.98.0", asks[1]: "1.0.0@universal", asks[2]: "2024.2.1@linux-arm64"})
    assert resolved.steps[1].args["version"] == "rust-v0.98.0"
    assert resolved.steps[3].args["name"] == ["a.b-1.0.0@universal", "ms-python.python-2024.2.1@linux-arm64",
                                              "c.d-2.0.0@linux-arm64"]
    assert newest_asks(resolved, "arm64") == ()
    with pytest.raises(LocatedError, match="names no version and nothing asked Open VSX"):
        compiled_for("install.vscode_extensions", name=["ms-python.python"])


def test_open_vsx_answers_the_universal_file_or_the_engine_platforms_as_envd_takes_them():
    from envtrack.llb.toolchains import newest_asks, newest_from

    plan = Plan(file="build.envd", target="build", steps=(base(), step(2, "install.vscode_extensions",
                                                                       name=["rust-lang.rust-analyzer", "a.b-1.0.0"])))
    latest, pinned = newest_asks(plan, "amd64")
    api = "https://open-vsx.org/api/rust-lang/rust-analyzer"
    per_platform = {"version": "0.3.2", "downloads": {
        "linux-x64": f"{api}/linux-x64/0.3.2/file/rust-lang.rust-analyzer-0.3.2@linux-x64.vsix",
        "darwin-arm64": f"{api}/darwin-arm64/0.3.2/file/rust-lang.rust-analyzer-0.3.2@darwin-arm64.vsix"}}
    assert newest_from(latest, per_platform) == "0.3.2@linux-x64"
    assert newest_from(latest, dict(per_platform, downloads={"universal": "u", "linux-x64": "x"})) == "0.3.2@universal"
    with pytest.raises(ValueError, match="publishes version 0.3.2 for darwin-arm64, win32-x64, not for linux-x64"):
        newest_from(latest, {"version": "0.3.2", "downloads": {"darwin-arm64": "d", "win32-x64": "w"}})
    # An Open VSX whose answers predate `downloads` names its one file and that file's platform.
    assert newest_from(pinned, {"version": "1.0.0", "targetPlatform": "linux-x64", "files": {"download": "f"}}) == \
        "1.0.0@linux-x64"
    with pytest.raises(ValueError, match="the answer is about version 1.0.1"):
        newest_from(pinned, {"version": "1.0.1", "downloads": {"universal": "u"}})


def test_a_platform_only_extension_is_fetched_from_open_vsxs_platform_file_path():
    compiled = compiled_for("install.vscode_extensions", arch="arm64", name=["rust-lang.rust-analyzer-0.3.2@linux-arm64"])
    assert list(http_sources(compiled)) == ["https://open-vsx.org/api/rust-lang/rust-analyzer/linux-arm64/0.3.2/file/"
                                            "rust-lang.rust-analyzer-0.3.2@linux-arm64.vsix"]
    assert ("mv /tmp/vsix/extension /root/.vscode-server/extensions/rust-lang.rust-analyzer-0.3.2@linux-arm64"
            in script_of(compiled, "install.vscode_extensions"))
    universal = compiled_for("install.vscode_extensions", name=["a.b-1.0.0@universal"],
                             mirrors=combine("https://open-vsx.org/=http://m/vsx/", None, "cfg"))
    assert list(http_sources(universal)) == ["http://m/vsx/api/a/b/1.0.0/file/a.b-1.0.0.vsix"]
    with pytest.raises(LocatedError, match="names Open VSX's linux-x64 publication; the Engine's platform is linux-arm64"):
        compiled_for("install.vscode_extensions", arch="arm64", name=["a.b-1.0.0@linux-x64"])


def test_the_newest_is_asked_through_the_mirror_and_a_failure_is_one_line(tmp_path):
    import http.server
    import threading

    from envtrack.errors import EnvtrackError
    from envtrack.solve.newest import resolve_newest

    (tmp_path / "gh/repos/openai/codex").mkdir(parents=True)
    (tmp_path / "gh/repos/openai/codex/releases").write_text(json.dumps([{"tag_name": "rust-v1.2.3"}]))
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_port}"
    try:
        plan = Plan(file="build.envd", target="build", steps=(base(), step(2, "install.codex", version="")))
        mirrors = combine(f"https://api.github.com/={base_url}/gh/", None, "cfg")
        resolved, asked = resolve_newest(plan, mirrors, "amd64")
        assert resolved.steps[1].args["version"] == "rust-v1.2.3"
        assert [(entry["where"], entry["answer"]) for entry in asked] == [("build.envd:2:5: install.codex", "rust-v1.2.3")]
        with pytest.raises(EnvtrackError) as failed:
            resolve_newest(plan, combine(f"https://api.github.com/={base_url}/none/", None, "cfg"), "amd64")
        assert failed.value.message == (
            f"build.envd:2:5: install.codex: cannot ask {base_url}/none/repos/openai/codex/releases?per_page=10 "
            f"for the newest codex: HTTP 404 File not found; mirrored by https://api.github.com/={base_url}/none/ (ENVTRACK_MIRRORS)")
        assert failed.value.exit_code == 1
    finally:
        server.shutdown()
        server.server_close()


def test_a_stamps_questions_are_asked_again_and_a_project_without_any_asks_nothing(tmp_path, monkeypatch):
    import http.server
    import threading
    import urllib.request

    from envtrack.solve.newest import resolve_newest, still_answered

    (tmp_path / "gh/repos/openai/codex").mkdir(parents=True)
    releases = tmp_path / "gh/repos/openai/codex/releases"
    releases.write_text(json.dumps([{"tag_name": "rust-v1.2.3"}]))
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    mirrors = combine(f"https://api.github.com/=http://127.0.0.1:{server.server_port}/gh/", None, "cfg")
    try:
        plan = Plan(file="build.envd", target="build", steps=(base(), step(2, "install.codex", version="")))
        _, asked = resolve_newest(plan, mirrors, "amd64")
        assert still_answered(asked, mirrors) == (True, {"https://api.github.com/repos/openai/codex/releases?per_page=10":
                                                         "rust-v1.2.3"})
        releases.write_text(json.dumps([{"tag_name": "rust-v1.2.4"}]))   # a newer release: the stamp no longer holds
        assert still_answered(asked, mirrors)[0] is False
    finally:
        server.shutdown()
        server.server_close()

    def no_network(*args, **kwargs):
        raise AssertionError("asked the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    assert still_answered([], mirrors) == (True, {})
    assert resolve_newest(Plan(file="build.envd", target="build", steps=(base(),)), mirrors, "amd64")[1] == []
    assert still_answered([{"ask": {"step": 1}}], mirrors) == (False, {})   # an unreadable record proves nothing


def test_only_io_http_without_a_checksum_is_asked_again_at_each_build():
    from envtrack.llb.compile import compile_plan
    from envtrack.llb.options import default_build_options
    from envtrack.solve.unpinned import unpinned

    plan = Plan(file="build.envd", target="build", steps=(
        base(), step(2, "io.http", url="https://example.org/data.tar.gz", filename="", checksum=""),
        step(3, "io.http", url="https://example.org/pinned.bin", filename="", checksum="sha256:" + "a" * 64),
        step(4, "install.go", version="1.22.1")))
    compiled = compile_plan(plan, default_build_options())
    assert {d.kind for d in compiled.downloads} >= {"io.http", "install.go"}
    assert unpinned(compiled.downloads) == ["https://example.org/data.tar.gz"]


def test_a_download_s_validator_is_its_servers_etag_or_date_and_length(tmp_path, monkeypatch):
    import http.server
    import os
    import threading

    from envtrack.solve.unpinned import still_validated, validate, validator

    (tmp_path / "data.bin").write_bytes(b"one")
    os.utime(tmp_path / "data.bin", (1_700_000_000, 1_700_000_000))
    etags = {}

    class Handler(http.server.SimpleHTTPRequestHandler):   # Last-Modified and Content-Length, as a plain server
        def end_headers(self):
            if self.path in etags:
                self.send_header("ETag", etags[self.path])
            super().end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: Handler(*a, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/data.bin"
    try:
        assert validator(url) == "modified Tue, 14 Nov 2023 22:13:20 GMT length 3"
        record = validate([url], {})
        assert still_validated(record, {})
        (tmp_path / "data.bin").write_bytes(b"two!")   # new bytes behind the same URL: the stamp no longer holds
        assert not still_validated(record, {})
        etags["/data.bin"] = '"v2"'
        assert validator(url) == 'etag "v2"'
        assert validator(url.replace("data.bin", "missing.bin")) == ""   # 404: nothing proves it unchanged
    finally:
        server.shutdown()
        server.server_close()
    known = {}
    assert validate([url], known) == [{"url": url, "validator": ""}]   # unreachable: the build solves
    assert validate([url], known) == [{"url": url, "validator": ""}] and list(known) == [f"validator {url}"]
    assert not still_validated([{"url": url}], {})   # a record that cannot say what it asked proves nothing
