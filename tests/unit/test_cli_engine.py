"""Engine setup's pure parts (mirror detection, options) and doctor's checks, without an engine."""

import json
import subprocess
from pathlib import Path

import pytest

from conftest import run_cli
from envtrack.endpoints import resolve_for
from envtrack.engine import doctor
from envtrack.engine.docker import docker_client
from envtrack.errors import EnvtrackError


def print_mirror(apt_etc) -> str:
    proc = subprocess.run(
        ["bash", str(doctor.SETUP_SCRIPT), "--print-mirror"],
        env={"PATH": "/usr/bin:/bin", "ENVTRACK_APT_ETC": str(apt_etc)},
        capture_output=True, text=True, check=True,
    )
    return proc.stdout.strip()


@pytest.fixture
def apt_etc(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    return tmp_path


def test_mirror_defaults_to_debian_when_no_sources(apt_etc):
    assert print_mirror(apt_etc) == "http://deb.debian.org/debian"


def test_mirror_from_one_line_sources_skips_options_security_and_third_parties(apt_etc):
    (apt_etc / "sources.list").write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb [signed-by=/usr/share/keyrings/x.gpg] https://packages.example.com/apt cloud-sdk-bookworm main\n"
        "deb http://security.debian.org/debian-security bookworm-security main\n"
        "deb [arch=amd64] http://mirror.example/deb trixie main contrib\n"
    )
    assert print_mirror(apt_etc) == "http://mirror.example/deb"


def test_mirror_from_deb822_stanzas(apt_etc):
    (apt_etc / "sources.list.d" / "a.sources").write_text(
        "Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: trixie-security\nComponents: main\n"
    )
    (apt_etc / "sources.list.d" / "b.sources").write_text(
        "Types: deb-src deb\n# a comment inside the stanza\nURIs: https://m1.example/debian http://m2.example/debian\n"
        "Suites: trixie trixie-updates\nComponents: main\n\n"
        "Types: deb\nURIs: http://other.example/debian\nSuites: bookworm\nComponents: main\n"
    )
    assert print_mirror(apt_etc) == "https://m1.example/debian"


def test_mirror_ignores_source_only_and_disabled_files(apt_etc):
    (apt_etc / "sources.list.d" / "src.sources").write_text(
        "Types: deb-src\nURIs: http://src-only.example/debian\nSuites: bookworm\nComponents: main\n"
    )
    (apt_etc / "sources.list.d" / "old.list.disabled").write_text("deb http://disabled.example/debian bookworm main\n")
    (apt_etc / "sources.list.d" / "z.list").write_text("deb http://listed.example/debian bookworm main\n")
    assert print_mirror(apt_etc) == "http://listed.example/debian"


def test_setup_rejects_unknown_options():
    proc = subprocess.run(["bash", str(doctor.SETUP_SCRIPT), "--bogus"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "--bogus" in proc.stderr


def test_engine_version_parsing():
    assert doctor.engine_version("20.10.24+dfsg1") == (20, 10)
    assert doctor.engine_version("26.1.5+dfsg1") == (26, 1)
    assert doctor.engine_version("dev") == (0, 0)


def test_base_image_check_wants_the_current_recipe():
    wanted = doctor.current_recipe()
    assert wanted.isdigit()
    assert doctor.base_image_check(wanted, wanted).ok
    stale = doctor.base_image_check("0", wanted)
    assert not stale.ok and stale.fix == "envtrack engine setup" and "recipe 0" in stale.detail
    hand_made = doctor.base_image_check(None, wanted)
    assert not hand_made.ok and "not made by envtrack" in hand_made.detail


def test_storage_driver_check():
    assert doctor.check_storage({"Driver": "overlay2"}).ok
    vfs = doctor.check_storage({"Driver": "vfs"})
    assert not vfs.ok and "overlay2" in vfs.fix


def test_proxy_check_shows_the_variables(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.setenv("no_proxy", "localhost")
    check = doctor.check_proxy()
    assert check.ok
    assert "HTTPS_PROXY=http://proxy.example:3128" in check.detail and "NO_PROXY=localhost" in check.detail


def test_ca_check_fails_with_a_fix_for_a_missing_bundle(monkeypatch, tmp_path):
    monkeypatch.setenv("ENVTRACK_CA_BUNDLE", str(tmp_path / "none.pem"))
    check = doctor.check_ca()
    assert not check.ok and check.fix


def test_doctor_without_an_engine_fails_every_engine_check_with_a_fix(tmp_path):
    proc = run_cli("doctor", "--json", env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock"})
    assert proc.returncode == 1
    checks = json.loads(proc.stdout)
    assert [sorted(c) for c in checks] == [["detail", "fix", "name", "ok"]] * len(checks)
    assert [c["name"] for c in checks] == [
        "engine", "storage-driver", "buildkit", "base-image", "disk", "ca-bundle", "proxy", "mirrors", "downloads"]
    failing = {c["name"]: c for c in checks if not c["ok"]}
    assert {"engine", "storage-driver", "buildkit", "base-image", "disk"} <= set(failing)
    assert all(c["fix"] == "envtrack engine setup" for c in failing.values())


def test_doctor_text_names_the_fix(tmp_path):
    proc = run_cli("doctor", env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock"})
    assert proc.returncode == 1
    assert "FAIL engine" in proc.stdout and "fix: envtrack engine setup" in proc.stdout


def client_error(monkeypatch, host: str) -> EnvtrackError:
    """The error resolving DOCKER_HOST=HOST, or docker_client() for what it resolved to, raises."""
    monkeypatch.setenv("DOCKER_HOST", host)
    with pytest.raises(EnvtrackError) as raised:
        docker_client(resolve_for(Path.cwd()).engine)
    return raised.value


def test_docker_client_error_names_the_socket_and_doctor(monkeypatch, tmp_path):
    error = client_error(monkeypatch, f"unix://{tmp_path}/no.sock")
    assert error.message.startswith(f"cannot reach the Docker Engine at {tmp_path}/no.sock")
    assert "envtrack doctor" in error.hint


def test_an_unknown_docker_host_scheme_is_a_usage_error(monkeypatch):
    error = client_error(monkeypatch, "http://127.0.0.1:2375")
    assert error.exit_code == 2 and "DOCKER_HOST" in error.message


def test_a_closed_tcp_engine_is_one_line_naming_the_address(monkeypatch, unused_port):
    error = client_error(monkeypatch, f"tcp://127.0.0.1:{unused_port}")
    assert error.message == f"cannot reach the Docker Engine at tcp://127.0.0.1:{unused_port} " \
                            "([Errno 111] Connection refused)"


def test_doctor_with_docker_host_over_tcp_fails_in_lines_not_a_traceback(unused_port):
    proc = run_cli("doctor", env={"DOCKER_HOST": f"tcp://127.0.0.1:{unused_port}", "DOCKER_TLS_VERIFY": ""})
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    assert f"FAIL engine          no answer at tcp://127.0.0.1:{unused_port}, from DOCKER_HOST" in proc.stdout


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _message(*fields: tuple[int, bytes]) -> bytes:
    """Length-delimited protobuf fields (all short, so one-byte lengths)."""
    return b"".join(bytes([number << 3 | 2, len(value)]) + value for number, value in fields)


def test_parse_workers_reads_ids_and_platforms_and_skips_the_rest():
    platform = _message((1, b"amd64"), (2, b"linux"))
    label = _message((1, b"k"), (2, b"v"))
    record = _message((1, b"w1"), (2, label), (3, platform)) + bytes([9 << 3 | 0, 0x96, 0x01])
    response = _message((1, record), (1, _message((1, b"w2"))))
    workers = doctor.parse_workers(response)
    assert workers == [doctor.Worker("w1", ("linux/amd64",)), doctor.Worker("w2", ())]
    assert str(workers[0]) == "worker w1 (linux/amd64)"


def test_parse_workers_rejects_truncated_data():
    with pytest.raises(ValueError):
        doctor.parse_workers(bytes([1 << 3 | 2, 0x80]))


def test_the_buildkit_check_names_a_bad_builder_in_one_line():
    check = doctor.check_buildkit(Path.cwd(), "ftp://buildkitd:1")
    assert (check.ok, check.detail) == (False, "--builder 'ftp://buildkitd:1': use unix:///PATH, tcp://HOST:PORT")


def test_mirrors_check_shows_where_each_upstream_goes_and_fails_on_a_bad_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("ENVTRACK_MIRRORS", "https://go.dev/dl/=http://m/go/ https://github.com/=http://m/gh/")
    check = doctor.check_mirrors()
    assert check.ok and check.detail.startswith("from ENVTRACK_MIRRORS: ")
    assert "https://go.dev/dl/ -> http://m/go/" in check.detail
    assert "https://github.com/astral-sh/uv/releases/download/ -> http://m/gh/astral-sh/uv/releases/download/" in check.detail
    monkeypatch.setenv("ENVTRACK_MIRRORS", "https://go.dev/dl/")
    bad = doctor.check_mirrors()
    assert not bad.ok and "ENVTRACK_MIRRORS" in bad.detail and bad.fix


def test_engine_setup_passes_its_options_to_the_script():
    assert doctor.setup_argv(False, None) == ["bash", str(doctor.SETUP_SCRIPT)]
    assert doctor.setup_argv(True, "bookworm, trixie,") == ["bash", str(doctor.SETUP_SCRIPT), "--engine-only",
                                                             "--base=bookworm", "--base=trixie"]


def test_doctor_names_each_download_of_the_projects_build_after_the_mirror_table(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("ENVTRACK_MIRRORS", "https://go.dev/dl/=http://mirror.example/go/")
    assert doctor.check_downloads(tmp_path).detail.startswith("no build.envd here")
    envd = tmp_path / "build.envd"
    envd.write_text('def build():\n    base(image="envtrack/base:bookworm")\n    install.go(version="1.22.1")\n')
    found = doctor.check_downloads(tmp_path)
    assert found.ok and found.detail.startswith("install.go: http://mirror.example/go/go1.22.1.linux-"), found
    envd.write_text('def build():\n    base(image=1 +)\n')
    monkeypatch.chdir(tmp_path)
    broken = doctor.check_downloads(tmp_path)
    assert not broken.ok and broken.detail.startswith("build.envd:2:"), broken
    assert [c.name for c in doctor.run_checks(tmp_path, "tcp://127.0.0.1:1")][-1] == "downloads"
