"""Which Engine and builder a command uses: DOCKER_* variables, docker contexts, envtrack contexts."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import run_cli
from envtrack import endpoints
from envtrack.dial import ssh_command
from envtrack.endpoints import (TLS, Context, ContextStore, EngineEndpoint, parse_store, resolve,
                                DEFAULT_HOST)
from envtrack.errors import EnvtrackError

DOCKER_DIR = Path("/home/u/.docker")


def reader(files: dict[Path, str]):
    return lambda path: files.get(path)


def docker_context_files(name: str, host: str, tls: bool = False, skip_verify: bool = False) -> dict[Path, str]:
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = {"Name": name, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_verify}}}
    files = {DOCKER_DIR / "contexts" / "meta" / digest / "meta.json": json.dumps(meta)}
    if tls:
        for pem in ("ca.pem", "cert.pem", "key.pem"):
            files[DOCKER_DIR / "contexts" / "tls" / digest / "docker" / pem] = "PEM"
    return files


STORE = ContextStore({"gpu": Context("gpu", "tcp://gpu:2376", TLS("/c/ca.pem", "/c/cert.pem", "/c/key.pem"),
                                     "tcp://bk:1234", None),
                      "farm": Context("farm", None, None, "unix:///run/buildkit/buildkitd.sock")}, None)


def engine_of(environ: dict, store: ContextStore = ContextStore(), choice: str | None = None,
              files: dict | None = None) -> EngineEndpoint:
    return resolve(environ, store, choice, DOCKER_DIR, reader(files or {})).engine


def test_nothing_set_is_the_default_socket():
    endpoint = engine_of({})
    assert (endpoint.host, endpoint.tls, endpoint.source, endpoint.is_local) == (DEFAULT_HOST, None, "default", True)


def test_docker_host_with_tls_verify_reads_the_cert_path_like_the_docker_cli():
    endpoint = engine_of({"DOCKER_HOST": "tcp://10.1.2.3:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/certs"})
    assert endpoint.tls == TLS("/certs/ca.pem", "/certs/cert.pem", "/certs/key.pem")
    assert endpoint.address == ("10.1.2.3", 2376) and not endpoint.is_local
    assert engine_of({"DOCKER_HOST": "tcp://h:1", "DOCKER_TLS_VERIFY": "1"}).tls.ca == str(DOCKER_DIR / "ca.pem")


def test_docker_tls_without_verify_sends_the_client_cert_but_trusts_any_server():
    endpoint = engine_of({"DOCKER_HOST": "tcp://h", "DOCKER_TLS": "1", "DOCKER_CERT_PATH": "/c"})
    assert endpoint.tls == TLS(None, "/c/cert.pem", "/c/key.pem") and endpoint.address == ("h", 2376)
    assert engine_of({"DOCKER_HOST": "tcp://h"}).address == ("h", 2375)


@pytest.mark.parametrize("host", ["http://h:1", "tcp://", "h:2375", "npipe:////./pipe/docker"])
def test_a_docker_host_envtrack_cannot_dial_is_a_usage_error(host):
    with pytest.raises(EnvtrackError, match="DOCKER_HOST") as raised:
        engine_of({"DOCKER_HOST": host})
    assert raised.value.exit_code == 2


def test_the_docker_cli_current_context_is_read_from_its_meta_and_tls_folders():
    files = {DOCKER_DIR / "config.json": json.dumps({"currentContext": "remote"}),
             **docker_context_files("remote", "tcp://r:2376", tls=True)}
    endpoint = engine_of({}, files=files)
    digest = hashlib.sha256(b"remote").hexdigest()
    assert (endpoint.host, endpoint.source) == ("tcp://r:2376", "docker context remote")
    assert endpoint.tls.ca == str(DOCKER_DIR / "contexts" / "tls" / digest / "docker" / "ca.pem")


def test_skip_tls_verify_in_a_docker_context_drops_the_ca():
    files = {DOCKER_DIR / "config.json": '{"currentContext": "r"}', **docker_context_files("r", "tcp://r", True, True)}
    assert engine_of({}, files=files).tls.ca is None


def test_docker_context_variable_beats_the_current_context_and_a_missing_one_is_an_error():
    files = {DOCKER_DIR / "config.json": '{"currentContext": "a"}', **docker_context_files("a", "tcp://a:1"),
             **docker_context_files("b", "ssh://me@b")}
    assert engine_of({"DOCKER_CONTEXT": "b"}, files=files).host == "ssh://me@b"
    assert engine_of({"DOCKER_CONTEXT": "default"}, files=files).host == "tcp://a:1"
    with pytest.raises(EnvtrackError, match="docker context 'c' not found"):
        engine_of({"DOCKER_CONTEXT": "c"}, files=files)


def test_order_envtrack_context_variable_then_docker_host_then_saved_context_then_docker_context():
    files = {DOCKER_DIR / "config.json": '{"currentContext": "a"}', **docker_context_files("a", "tcp://a:1")}
    in_use = ContextStore(STORE.contexts, "gpu")
    assert engine_of({"ENVTRACK_CONTEXT": "gpu", "DOCKER_HOST": "unix:///x"}, STORE, files=files).host == "tcp://gpu:2376"
    assert engine_of({"DOCKER_HOST": "unix:///x"}, in_use, files=files).host == "unix:///x"
    assert engine_of({}, in_use, files=files).source == "envtrack context gpu"
    assert engine_of({}, STORE, files=files).host == "tcp://a:1"   # no envtrack context in use
    assert engine_of({"ENVTRACK_CONTEXT": "default"}, in_use, files=files).host == "tcp://a:1"


def test_a_project_choice_beats_the_users_and_a_builder_only_context_keeps_the_engine():
    chosen = resolve({}, ContextStore(STORE.contexts, "gpu"), "farm", DOCKER_DIR, reader({}))
    assert chosen.engine.host == DEFAULT_HOST and chosen.context == "farm"
    assert chosen.builder.address == "unix:///run/buildkit/buildkitd.sock"
    with pytest.raises(EnvtrackError, match="no envtrack context 'nope'"):
        resolve({}, STORE, "nope", DOCKER_DIR, reader({}))


def test_builder_order_flag_then_variable_then_context_then_the_engines_own():
    def builder(environ: dict, flag: str | None = None, store: ContextStore = ContextStore(STORE.contexts, "gpu")):
        return resolve(environ, store, None, DOCKER_DIR, reader({}), flag).builder

    tls_env = {"ENVTRACK_BUILDKIT_TLS_CA": "/b/ca.pem"}
    assert builder(tls_env, "tcp://flag:1").tls == TLS("/b/ca.pem", None, None)
    assert builder({"ENVTRACK_BUILDKIT_HOST": "unix:///bk.sock"}).address == "unix:///bk.sock"
    assert builder({}).address == "tcp://bk:1234"
    assert builder({}, store=ContextStore()).address is None
    with pytest.raises(EnvtrackError, match="--builder 'ssh://x'"):
        builder({}, "ssh://x")


def test_the_contexts_file_round_trips_and_bad_files_are_one_line_errors():
    assert parse_store(json.dumps(STORE.to_json()), "f") == STORE
    for text, message in (("{", "not JSON"), ('{"contexts": []}', "want"),
                          ('{"contexts": {"x": {"engine": "ftp://h"}}}', "engine 'ftp://h'")):
        with pytest.raises(EnvtrackError, match=message) as raised:
            parse_store(text, "/home/u/.config/envtrack/contexts.json")
        assert raised.value.exit_code == 2


def test_ssh_command_is_the_docker_clis_dial_stdio():
    command = ssh_command("ssh://me@host:2222")
    assert command[0] == "ssh" and "BatchMode=yes" in command
    assert command[-9:] == ["-l", "me", "-p", "2222", "--", "host", "docker", "system", "dial-stdio"]
    assert ssh_command("ssh://host")[-4:] == ["host", "docker", "system", "dial-stdio"]


def test_docker_env_points_the_docker_cli_at_the_same_engine():
    endpoint = EngineEndpoint("tcp://h:1", TLS("/c/ca.pem", "/c/cert.pem", "/c/key.pem"))
    assert endpoint.docker_env() == {"DOCKER_HOST": "tcp://h:1", "DOCKER_CONTEXT": "", "DOCKER_CERT_PATH": "/c",
                                     "DOCKER_TLS_VERIFY": "1", "DOCKER_TLS": "1"}


def test_context_cli_create_use_ls_rm(tmp_path):
    certs = tmp_path / "certs"
    certs.mkdir()
    for pem in ("ca.pem", "cert.pem", "key.pem"):
        (certs / pem).write_text("PEM")
    project = tmp_path / "proj"
    (project / "sub").mkdir(parents=True)
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "DOCKER_CONFIG": str(tmp_path / "docker"),
           "DOCKER_HOST": "", "DOCKER_CONTEXT": "", "ENVTRACK_CONTEXT": "", "ENVTRACK_BUILDKIT_HOST": ""}

    def cli(*args: str, cwd: Path = tmp_path):
        return run_cli("context", *args, cwd=cwd, env=env)

    created = cli("create", "gpu", "--engine", "tcp://127.0.0.1:2376", "--cert-path", str(certs), "--use")
    assert created.returncode == 0, created.stderr
    listing = json.loads(cli("ls", "--json").stdout)
    assert listing["context"] == "gpu" and listing["engine"].startswith("tcp://127.0.0.1:2376 with TLS")
    assert cli("create", "farm", "--builder", "tcp://127.0.0.1:1234").returncode == 0
    assert cli("use", "farm", "--project", str(project)).returncode == 0
    assert json.loads((project / ".envtrack" / "context.json").read_text()) == {"context": "farm"}
    inside = json.loads(cli("ls", "--json", cwd=project / "sub").stdout)   # a parent's choice applies
    assert inside["context"] == "farm" and inside["builder"].startswith("buildkitd at tcp://127.0.0.1:1234")
    assert cli("use", "default").returncode == 0
    assert json.loads(cli("ls", "--json").stdout)["context"] == "default"
    assert cli("rm", "gpu").returncode == 0
    bad = cli("use", "gpu")
    assert bad.returncode == 2 and bad.stderr.startswith("envtrack: no envtrack context 'gpu'")
    bad = cli("create", "x", "--engine", "tcp://h:1", "--cert-path", str(tmp_path))
    assert bad.returncode == 2 and "missing ca.pem, cert.pem, key.pem" in bad.stderr and "Traceback" not in bad.stderr


def test_resolve_for_reads_the_environment_each_time_and_remembers_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    assert endpoints.resolve_for(tmp_path).engine.host == "tcp://127.0.0.1:9"
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/other.sock")
    assert endpoints.resolve_for(tmp_path).engine.socket_path == "/tmp/other.sock"
    assert not hasattr(endpoints, "use_project_dir") and not hasattr(endpoints, "current")


class StandInEngine:
    """A Unix socket answering every Engine API request with {"Version": NAME}: which Engine a
    call reached, nothing more (no container, image or build is claimed)."""

    def __init__(self, path: Path, name: str):
        import http.server
        import socketserver
        import threading

        body = json.dumps({"Version": name, "ApiVersion": "1.41"}).encode()

        class Answer(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_HEAD = _answer

            def address_string(self) -> str:
                return "stand-in"

            def log_message(self, *args) -> None:
                pass

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        self.server = Server(str(path), Answer)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_two_projects_in_one_process_each_dial_their_own_engine(monkeypatch, tmp_path):
    from envtrack.engine import api
    from envtrack.engine.docker import docker_client
    from envtrack.project import Project

    for name in ("DOCKER_HOST", "DOCKER_CONTEXT", "ENVTRACK_CONTEXT", "ENVTRACK_BUILDKIT_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    sockets = {name: tmp_path / f"{name}.sock" for name in ("left", "right")}
    engines = [StandInEngine(path, name) for name, path in sockets.items()]
    try:
        for name, path in sockets.items():
            endpoints.create_context(name, engine=f"unix://{path}", cert_path=None, tls_verify=False,
                                     builder=None, builder_cert_path=None, description="")
            (tmp_path / name).mkdir()
            (tmp_path / name / "build.envd").write_text("def build():\n    base(os='ubuntu22.04', language='python')\n")
            endpoints.use_context(name, tmp_path / name)
        left, right = Project.find(tmp_path / "left"), Project.find(tmp_path / "right")

        # resolved once, when each project was made, from its own .envtrack/context.json
        assert (left.engine.host, left.engine.source) == (f"unix://{sockets['left']}", "envtrack context left")
        assert (right.engine.host, right.endpoints.context) == (f"unix://{sockets['right']}", "right")
        assert endpoints.resolve_for(tmp_path).engine.host == endpoints.DEFAULT_HOST   # no project: the user's choice

        # opening the second project changed nothing for the first: each call goes where its project says
        assert [api.engine_version(p.engine) for p in (left, right, left)] == ["left", "right", "left"]
        assert api.ping(right.engine) is None
        clients = {p.name: docker_client(p.engine) for p in (left, right)}
        assert clients[left.name] is not clients[right.name] and docker_client(left.engine) is clients[left.name]
        assert [docker_client(p.engine).version()["Version"] for p in (right, left)] == ["right", "left"]
    finally:
        for engine in engines:
            engine.close()
        docker_client.cache_clear()
