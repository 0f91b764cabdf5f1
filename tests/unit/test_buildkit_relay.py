"""The relay's upgrade against a stand-in Engine socket, and the build's tag and config rules."""

from __future__ import annotations

import hashlib
import socket
import stat
import threading
from pathlib import Path

import pytest

from envtrack.solve.service import final_config, short_digest
from envtrack.endpoints import EngineEndpoint, resolve_for
from envtrack.buildkit.relay import EngineRelay, upgrade
from envtrack.errors import EnvtrackError
from envtrack.llb.image_config import ImageConfig
from envtrack.project import Project

SETTINGS_FRAME = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def fake_engine(path: Path, answer: bytes, echo: bool = True) -> list[bytes]:
    """Accept one connection, read the HTTP request, answer, then echo what follows."""
    seen: list[bytes] = []
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def serve():
        connection, _ = server.accept()
        request = b""
        while b"\r\n\r\n" not in request:
            request += connection.recv(4096)
        seen.append(request)
        connection.sendall(answer)
        while echo and (data := connection.recv(4096)):
            connection.sendall(data.upper())
        connection.close()
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    return seen


def test_upgrade_sends_h2c_request_and_returns_bytes_past_the_header(tmp_path):
    seen = fake_engine(tmp_path / "engine.sock", b"HTTP/1.1 101 Switching Protocols\r\n\r\n" + SETTINGS_FRAME)
    engine, leftover = upgrade(EngineEndpoint(f"unix://{tmp_path}/engine.sock"))
    engine.close()
    assert leftover == SETTINGS_FRAME
    assert seen[0].startswith(b"POST /grpc HTTP/1.1\r\n") and b"Upgrade: h2c" in seen[0]


def test_upgrade_refused_is_an_error(tmp_path):
    fake_engine(tmp_path / "engine.sock", b"HTTP/1.1 500 Internal Server Error\r\n\r\n", echo=False)
    with pytest.raises(EnvtrackError, match="500"):
        upgrade(EngineEndpoint(f"unix://{tmp_path}/engine.sock"))


def test_relay_forwards_leftover_then_copies_both_ways(tmp_path):
    fake_engine(tmp_path / "engine.sock", b"HTTP/1.1 101 Switching Protocols\r\n\r\nFIRST")
    with EngineRelay(EngineEndpoint(f"unix://{tmp_path}/engine.sock")) as relay:
        assert stat.S_IMODE(Path(relay.path).stat().st_mode) == 0o600
        assert stat.S_IMODE(Path(relay.path).parent.stat().st_mode) == 0o700
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(relay.path)
        client.sendall(b"ping")
        received = b""
        while len(received) < len(b"FIRSTPING"):
            received += client.recv(4096)
        client.close()
    assert received == b"FIRSTPING"
    assert not Path(relay.path).exists()


def test_builder_address_prefers_the_option_then_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("ENVTRACK_BUILDKIT_HOST", raising=False)
    monkeypatch.delenv("ENVTRACK_CONTEXT", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))   # no user context to name a builder
    assert resolve_for(tmp_path).builder.address is None
    monkeypatch.setenv("ENVTRACK_BUILDKIT_HOST", "tcp://buildkitd:1234")
    assert resolve_for(tmp_path).builder.address == "tcp://buildkitd:1234"
    assert resolve_for(tmp_path, "unix:///run/buildkit.sock").builder.address == "unix:///run/buildkit.sock"


def test_final_config_merges_over_the_base_and_labels_the_envd_file(tmp_path):
    envd = tmp_path / "build.envd"
    envd.write_text("def build():\n    base(image='x')\n")
    project = Project.find(envd)
    base = {"Config": {"Env": ["PATH=/usr/bin", "LANG=C.UTF-8"], "Cmd": ["bash"]}}
    digest = hashlib.sha256(envd.read_bytes()).hexdigest()
    config = final_config(project, ImageConfig(env=(("PATH", "/venv/bin:/usr/bin"),)), base, digest)
    assert config.env_dict() == {"PATH": "/venv/bin:/usr/bin", "LANG": "C.UTF-8"}
    assert config.cmd == ("bash",)
    labels = dict(config.labels)
    assert labels["envtrack.project"] == project.name and labels["envtrack.envd.sha256"] == digest
    assert "envtrack.version" in labels


def test_short_digest_covers_the_definition_and_the_config():
    config = ImageConfig(cmd=("bash",))
    assert short_digest("sha256:a", config) == short_digest("sha256:a", ImageConfig(cmd=("bash",)))
    assert short_digest("sha256:a", config) != short_digest("sha256:b", config)
    assert short_digest("sha256:a", config) != short_digest("sha256:a", ImageConfig(cmd=("sh",)))
    assert len(short_digest("sha256:a", config)) == 12
    # what an unpinned URL's server says of its bytes: a changed download is a new tag
    one, two = [{"url": "http://x/a", "validator": "etag 1"}], [{"url": "http://x/a", "validator": "etag 2"}]
    assert short_digest("sha256:a", config, one) != short_digest("sha256:a", config, two)
    assert short_digest("sha256:a", config, []) == short_digest("sha256:a", config)


def test_stamp_is_invalid_when_a_source_or_the_base_changes(tmp_path, monkeypatch):
    from envtrack.solve import stamp
    from envtrack.llb.options import default_build_options as options

    monkeypatch.setenv("ENVTRACK_CA_BUNDLE", str(tmp_path / "ca.pem"))
    envd = tmp_path / "build.envd"
    envd.write_text("one")
    mine = stamp.owner(envd, "proj")
    stamp.write_stamp(tmp_path / ".envtrack", project=mine, sources={str(envd): stamp.file_digest(envd)},
                      inputs=stamp.host_inputs(options()), base=("img", "sha256:1"), result={})
    recorded = stamp.read_stamp(tmp_path / ".envtrack")
    copy = stamp.owner(tmp_path / "copy" / "build.envd", "copy")
    assert not stamp.still_valid(recorded, copy, options(), {"img": "sha256:1"}.get)  # a copied project
    assert stamp.still_valid(recorded, mine, options(), {"img": "sha256:1"}.get)
    assert not stamp.still_valid(recorded, mine, options(bake_ca=True), {"img": "sha256:1"}.get)      # --bake-ca differs
    assert not stamp.still_valid(recorded, mine, options(), {"img": "sha256:2"}.get)     # base re-tagged
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    assert not stamp.still_valid(recorded, mine, options(), {"img": "sha256:1"}.get)     # proxy appeared
    monkeypatch.delenv("HTTPS_PROXY")
    envd.write_text("two")
    assert not stamp.still_valid(recorded, mine, options(), {"img": "sha256:1"}.get)     # file edited
