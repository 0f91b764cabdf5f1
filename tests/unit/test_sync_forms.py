"""The form sync writes each requested package in, from the journal's net change (pure)."""

from __future__ import annotations

from envtrack.sync.changes import NetChange
from envtrack.sync.forms import conda_channel_url, conda_entry, pip_entry, unreproducible

VENV_SITE = "/opt/envtrack/venv/lib/python3.11/site-packages"


def pip(name: str, version: str = "1.0", source: str = "", env: str = VENV_SITE, **detail) -> NetChange:
    return NetChange("pip", env, name, None, version, True, source=source, detail=detail)


def test_extras_and_markers_as_typed_survive_the_pin() -> None:
    change = pip("requests", "2.31.0", asked="requests[socks]==2.31.0 ; python_version >= '3.8'")
    assert pip_entry(change, "exact") == "requests[socks]==2.31.0; python_version >= '3.8'"
    assert pip_entry(change, "exact", head="requests[security]") == "requests[security]==2.31.0; python_version >= '3.8'"
    assert unreproducible(change) is None


def test_vcs_pinned_to_the_commit_and_direct_urls_with_their_hash() -> None:
    assert pip_entry(pip("lib", source="git+https://127.0.0.1/lib.git@0123abcd"), "exact") == \
        "lib @ git+https://127.0.0.1/lib.git@0123abcd"
    wheel = pip("tomli-w", source="http://127.0.0.1:8000/tomli_w-1.0.0-py3-none-any.whl", hash="sha256=ab12")
    assert pip_entry(wheel, "exact") == "tomli-w @ http://127.0.0.1:8000/tomli_w-1.0.0-py3-none-any.whl#sha256=ab12"


def test_paths_inside_the_project_install_from_it_editable_ones_stay_editable() -> None:
    assert pip_entry(pip("mylib", source="file:///workspace/vendor/mylib", local=True), "exact") == "./vendor/mylib"
    assert pip_entry(pip("editlib", source="file:///workspace/vendor/editlib", editable=True), "exact") == \
        "--editable=./vendor/editlib"
    assert unreproducible(pip("mylib", source="file:///workspace/vendor/mylib")) is None


def test_what_cannot_be_rebuilt_says_why_and_what_would_make_it_reproducible() -> None:
    outside = unreproducible(pip("scratch", source="file:///tmp/scratch-0.1-py3-none-any.whl"))
    assert "outside the project directory /workspace" in outside and "move it into the project" in outside
    redacted = unreproducible(pip("private", source="https://****@127.0.0.1/private-1.0.tar.gz"))
    assert "credentials were redacted" in redacted and "config.pip_index" in redacted
    deb = unreproducible(NetChange("apt", "/", "hello", None, "2.10-3", True, detail={"deb": "/tmp/hello.deb"}))
    assert "local .deb (/tmp/hello.deb)" in deb and "config.apt_source" in deb
    other = unreproducible(pip("black", env="/opt/tools/lib/python3.11/site-packages"))
    assert "another environment (/opt/tools/lib/python3.11/site-packages)" in other
    project_venv = unreproducible(pip("httpx", env="/workspace/.venv/lib/python3.11/site-packages"))
    assert "inside the project" in project_venv and "uv.lock" in project_venv
    for main in ("/usr/lib/python3/dist-packages", "/root/.local/lib/python3.11/site-packages", VENV_SITE):
        assert unreproducible(pip("six", env=main)) is None


def conda(name: str, source: str, env: str = "/opt/conda/envs/envd", **detail) -> NetChange:
    return NetChange("conda", env, name, None, "1.0", True, source=source, detail=detail)


def test_a_conda_url_channel_goes_into_the_calls_channel_list_a_named_one_before_the_name() -> None:
    url = "http://172.17.0.1:8000/channel"
    typed = conda("hello", url, channels=[url + "/"])
    assert conda_channel_url(typed) == url and conda_entry(typed, "exact") == "hello=1.0"
    named = conda("numpy", "https://conda.anaconda.org/conda-forge", channels=["conda-forge"])
    assert conda_channel_url(named) is None and conda_entry(named, "exact") == "conda-forge::numpy=1.0"
    # Without a command line seen: the record's URL, unless it is below conda's channel alias.
    assert conda_channel_url(conda("hello", url)) == url
    assert conda_channel_url(conda("numpy", "https://conda.anaconda.org/conda-forge")) is None
    assert conda_channel_url(conda("private", "https://****@127.0.0.1/channel")) is None


def test_another_conda_env_or_venv_is_one_a_run_recreates() -> None:
    from envtrack.sync.forms import OtherEnv, other_env

    ml = other_env(conda("hello", "conda-forge", env="/opt/conda/envs/ml"))
    assert ml == OtherEnv("conda", "ml") and ml.creation(["hello=1.0"], ["http://h/c"]) == [
        "conda create -y -n ml -c http://h/c hello=1.0"]
    assert other_env(conda("hello", "conda-forge")) is None and other_env(conda("hello", "conda-forge", env="/opt/conda")) is None
    venv = other_env(pip("tomli", env="/opt/v2/lib/python3.11/site-packages", python="/usr/bin/python3.11"))
    assert venv.creation(["tomli==2.0.1"]) == ["/usr/bin/python3.11 -m venv /opt/v2",
                                               "/opt/v2/bin/python -m pip install tomli==2.0.1"]
    # A venv whose rows do not say which Python made it (an older agent's) gets its explaining line.
    unknown = pip("tomli", env="/opt/v2/lib/python3.11/site-packages")
    assert other_env(unknown) is None and "another environment (/opt/v2" in unreproducible(unknown)


def test_a_pipx_apps_packages_are_rebuilt_by_pipx_where_every_user_finds_them() -> None:
    from envtrack.records import pipx_app
    from envtrack.sync.forms import PIPX, pipx_command

    venv = "/home/envd/.local/share/pipx/venvs/pycowsay/lib/python3.11/site-packages"
    assert pipx_app(venv) == "pycowsay" and pipx_app("/opt/pipx/venvs/black/lib/python3.11/site-packages") == "black"
    assert pipx_app(VENV_SITE) == "" and pipx_app("/root/.local/lib/python3.11/site-packages") == ""
    assert pipx_command(pip("pycowsay", "0.0.0.2", env=venv), "exact") == f"{PIPX} install pycowsay==0.0.0.2"
    assert pipx_command(pip("requests", "2.31.0", env=venv, asked="requests[socks]"), "exact") == \
        f"{PIPX} inject pycowsay 'requests[socks]==2.31.0'"
    assert pipx_command(pip("six"), "exact") is None
