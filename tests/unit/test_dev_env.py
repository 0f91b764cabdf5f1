"""base(dev=True)'s pure parts: whose uid the user gets, what the build adds, the SSH entry and route."""

from __future__ import annotations

import os

from envtrack.container.dev import published_port, ssh_route
from envtrack.container.spec import runtime_of
from envtrack.devenv import SSHD_PORT, USER_LABEL
from envtrack.errors import Position
from envtrack.frontend.steps import Plan, Step
from envtrack.llb.compile import compile_plan
from envtrack.llb.options import BuildOptions, default_build_options
from envtrack.sshconfig import entry, without_entry

AT = Position("build.envd", 2, 5)


def plan(*steps: Step) -> Plan:
    return Plan(file="build.envd", target="build", steps=steps)


def base(dev: bool) -> Step:
    return Step("base", {"image": "envtrack/base:bookworm", "dev": dev}, AT)


def test_the_dev_user_gets_the_host_users_uid_unless_config_owner_names_one() -> None:
    assert default_build_options(environ={}).owner == (os.getuid(), os.getgid())
    mine = compile_plan(plan(base(True)), BuildOptions(owner=(1000, 1000)))
    other = compile_plan(plan(base(True)), BuildOptions(owner=(1001, 1000)))
    assert mine.digest != other.digest and dict(mine.image_config.labels)[USER_LABEL] == "envd"
    owned = plan(base(True), Step("config.owner", {"uid": 1001, "gid": 1000}, AT))
    assert compile_plan(owned, BuildOptions(owner=(0, 0))).digest != compile_plan(plan(base(True))).digest
    assert dict(compile_plan(plan(base(True))).image_config.labels)[USER_LABEL] == "root"   # a root host


def test_dev_false_adds_nothing_and_dev_true_publishes_sshd_on_loopback() -> None:
    assert USER_LABEL not in dict(compile_plan(plan(base(False))).image_config.labels)
    assert runtime_of([base(False)], "/p", "/home/me").dev_user == ""
    runtime = runtime_of([base(True)], "/p", "/home/me", (1000, 1000))
    assert runtime.dev_user == "envd" and runtime.dev_owner == (1000, 1000)
    assert [(p.container_port, p.host_ip) for p in runtime.ports] == [(f"{SSHD_PORT}/tcp", "127.0.0.1")]
    assert "sshd -D" in runtime.main_command()[-1]


def test_the_entry_is_removed_alone_and_remote_engines_are_reached_through_their_host() -> None:
    one = entry("a.envtrack", host="127.0.0.1", port=1, user="envd", identity="/k", jump=None)
    two = entry("b.envtrack", host="127.0.0.1", port=2, user="root", identity="/k", jump="me@gpu:22")
    assert without_entry(one + two, "a.envtrack") == two and "ProxyJump me@gpu:22" in two
    assert ssh_route("unix:///var/run/docker.sock", "127.0.0.1") == ("127.0.0.1", None)
    assert ssh_route("ssh://me@gpu:2222", "127.0.0.1") == ("127.0.0.1", "me@gpu:2222")
    assert ssh_route("tcp://gpu:2376", "127.0.0.1") == ("127.0.0.1", "gpu")
    assert ssh_route("tcp://gpu:2376", "0.0.0.0") == ("gpu", None)
    ports = {"NetworkSettings": {"Ports": {f"{SSHD_PORT}/tcp": [{"HostIp": "127.0.0.1", "HostPort": "49153"}]}}}
    assert published_port(ports) == 49153 and published_port({}) is None


def test_the_agent_watches_each_users_local_folder_for_a_user_site(tmp_path) -> None:
    from envtrack.agent.run import _user_locals, wants_event

    (tmp_path / "home" / "envd" / ".local").mkdir(parents=True)
    (tmp_path / "home" / "other").mkdir()
    assert _user_locals(str(tmp_path)) == ["/home/envd/.local"]
    assert wants_event("/home/envd/.local", "lib", True) and not wants_event("/home/envd/.local", "x.txt", False)


def test_a_named_key_without_its_public_half_is_one_clear_error(tmp_path, monkeypatch) -> None:
    import pytest

    from envtrack import sshconfig
    from envtrack.errors import EnvtrackError

    monkeypatch.setenv(sshconfig.KEY_ENV, str(tmp_path / "id_missing"))
    with pytest.raises(EnvtrackError) as raised:
        sshconfig.key_pair()
    assert "id_missing.pub" in raised.value.message and sshconfig.KEY_ENV in raised.value.hint


def test_the_agent_finds_and_watches_pipx_apps_venvs(tmp_path) -> None:
    from envtrack.agent.run import _pipx_dirs, wants_event
    from envtrack.records import find_site_dirs

    venv = tmp_path / "home" / "envd" / ".local" / "share" / "pipx" / "venvs" / "pycowsay"
    (venv / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (tmp_path / "home" / "envd" / ".local" / "share" / "pipx" / "shared").mkdir()   # pipx's own pip: no app
    assert str(venv / "lib" / "python3.11" / "site-packages") in find_site_dirs(str(tmp_path))
    assert _pipx_dirs(str(tmp_path)) == ["/home/envd/.local/share", "/home/envd/.local/share/pipx",
                                         "/home/envd/.local/share/pipx/venvs"]
    assert wants_event("/home/envd/.local/share/pipx/venvs", "black", True)
    assert not wants_event("/home/envd/.local/share/pipx/venvs", "x.lock", False)
