"""Installer command lines as /proc shows them: what each front-end asked for (pure parsing)."""

from __future__ import annotations

import pytest

from envtrack.agent.installers import Asked, asked_for, parse_command

VENV = "/opt/envtrack/venv/bin"
FILES = {
    "/workspace/requirements.txt": "# team\nrequests[socks]==2.31.0 ; python_version >= '3.8'\n-r more.txt\n-e ./vendor/editlib\n",
    "/workspace/more.txt": "tomli-w\n",
    "/workspace/proj/pyproject.toml": '[project]\nname = "proj"\ndependencies = [\n  "httpx>=0.27",\n  \'six\',\n]\n[tool.uv]\n',
}


def parse(*argv: str, cwd: str = "/workspace"):
    return parse_command(list(argv), cwd, FILES.get)


def names(run) -> dict[str, str]:
    return {a.name or a.path: a.spec for a in run.asked}


@pytest.mark.parametrize("argv", [
    (f"{VENV}/python3", f"{VENV}/pip", "install", "-q", "requests[socks]==2.31.0"),
    ("pip3", "install", "--index-url", "http://127.0.0.1:1/simple", "requests[socks]==2.31.0"),
    ("python3", "-m", "pip", "install", "-U", "requests[socks]==2.31.0"),
    ("/usr/local/bin/uv", "pip", "install", "--python", f"{VENV}/python", "requests[socks]==2.31.0"),
    ("uv", "add", "requests[socks]==2.31.0"),
    ("pipx", "install", "requests[socks]==2.31.0"),
])
def test_every_pip_front_end_names_the_spec_as_typed(argv) -> None:
    run = parse(*argv)
    assert run.manager == "pip" and run.complete
    assert names(run) == {"requests": "requests[socks]==2.31.0"}


def test_requirements_files_nested_and_editable_paths_are_read_relative_to_the_process() -> None:
    run = parse("pip", "install", "-r", "requirements.txt", "./vendor/mylib")
    assert names(run) == {"requests": "requests[socks]==2.31.0 ; python_version >= '3.8'", "tomli-w": "tomli-w",
                          "/workspace/vendor/editlib": "./vendor/editlib", "/workspace/vendor/mylib": "./vendor/mylib"}
    assert [a.editable for a in run.asked if a.path] == [True, False]
    assert run.complete


def test_an_unreadable_requirements_file_leaves_the_run_incomplete() -> None:
    assert not parse("pip", "install", "-r", "missing.txt").complete


def test_uv_sync_asks_for_the_project_dependencies() -> None:
    assert names(parse("uv", "sync", cwd="/workspace/proj")) == {"httpx": "httpx>=0.27", "six": "six"}


def test_conda_front_ends_keep_their_channels() -> None:
    for tool in ("conda", "mamba", "micromamba"):
        run = parse(tool, "install", "-y", "-n", "work", "-c", "http://127.0.0.1:8000/chan", "numpy=1.26", "conda-forge::scipy")
        assert run.manager == "conda"
        assert [(a.name, a.channels) for a in run.asked] == [("numpy", ("http://127.0.0.1:8000/chan",)),
                                                            ("scipy", ("http://127.0.0.1:8000/chan",))]


def test_apt_front_ends_and_local_debs() -> None:
    for tool in ("apt", "apt-get", "aptitude"):
        run = parse(tool, "install", "-y", "-o", "Dpkg::Use-Pty=0", "jq=1.6-2.1", "less")
        assert names(run) == {"jq": "jq=1.6-2.1", "less": "less"}
    run = parse("dpkg", "-i", "/tmp/hello_2.10-3_amd64.deb")
    assert run.asked == [Asked("apt", "hello", "/tmp/hello_2.10-3_amd64.deb", path="/tmp/hello_2.10-3_amd64.deb")]
    assert parse("apt-get", "install", "./debs/tool_1.0_all.deb").asked[0].path == "/workspace/debs/tool_1.0_all.deb"


def test_other_commands_are_no_installer_runs() -> None:
    for argv in (("pip", "list"), ("uv", "venv"), ("python3", "script.py"), ("apt-get", "update"), ("dpkg", "-l"),
                 ("bash", "-c", "pip install six")):
        assert parse(*argv) is None, argv


def test_credentials_in_command_lines_are_redacted() -> None:
    run = parse("pip", "install", "git+https://user:s3cret@127.0.0.1/repo.git#egg=mylib")
    assert "s3cret" not in run.command and "s3cret" not in run.asked[0].spec and run.asked[0].name == "mylib"


def test_asked_for_merges_runs_of_one_manager() -> None:
    runs = [parse("uv", "pip", "install", "tomli-w"), parse("apt-get", "install", "jq")]
    by_name, by_path, understood = asked_for(runs, "pip")
    assert set(by_name) == {"tomli-w"} and not by_path and understood
    assert asked_for(runs, "conda") == ({}, {}, False)


def test_journal_rows_take_the_command_line_over_uvs_requested_everywhere(tmp_path) -> None:
    from envtrack.agent.batch import journal_rows
    from envtrack.records import PackageChange

    site = "/opt/envtrack/venv/lib/python3.11/site-packages"
    changes = [PackageChange("pip", site, name, "install", None, version, True)
               for name, version in (("requests", "2.31.0"), ("pysocks", "1.7.1"), ("urllib3", "2.2.1"))]
    rows = journal_rows(changes, root=str(tmp_path), time="t", reconciled=False,
                        runs=[parse("uv", "pip", "install", "requests[socks]==2.31.0")])
    assert [(r.name, r.requested) for r in rows] == [("requests", True), ("pysocks", False), ("urllib3", False)]
    assert rows[0].detail["asked"] == "requests[socks]==2.31.0"
    # No command line seen: the records' flags stand.
    assert all(r.requested for r in journal_rows(changes, root=str(tmp_path), time="t", reconciled=False))


def test_an_extra_only_requirement_is_no_dependency(tmp_path) -> None:
    from envtrack.records import read_pip

    site = tmp_path / "opt/v/lib/python3.11/site-packages"
    for name, requires in (("setuptools", "Requires-Dist: tomli-w>=1.0.0; extra == 'testing'\n"), ("tomli_w", "")):
        info = site / f"{name}-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n{requires}")
        (info / "INSTALLER").write_text("uv")
        (info / "REQUESTED").write_text("")
        (info / "RECORD").write_text(f"{info.name}/INSTALLER,,\n{info.name}/RECORD,,\n")
    (tmp_path / "opt/v/pyvenv.cfg").write_text("home = /usr/bin\n")
    assert {p.name: p.requested for p in read_pip(str(tmp_path))} == {"setuptools": True, "tomli-w": True}


def test_an_apt_mark_manual_after_an_install_is_the_users_word_not_the_historys() -> None:
    from envtrack.agent.apt_history import AptEntry
    from envtrack.agent.batch import journal_rows
    from envtrack.records import PackageChange

    entry = AptEntry("aptitude install -y jq", automatic={"libonig5"}, named={"jq", "libonig5"})
    marked = PackageChange("apt", "/", "libonig5", "mark", "6.9.8-1", "6.9.8-1", True)
    installed = PackageChange("apt", "/", "libonig5", "install", None, "6.9.8-1", True)
    assert journal_rows([marked], root="/", time="t", reconciled=False, apt_entry=entry)[0].requested
    assert not journal_rows([installed], root="/", time="t", reconciled=False, apt_entry=entry)[0].requested


def test_a_conda_run_that_names_its_environment_explains_only_that_ones_changes() -> None:
    install = parse_command(["micromamba", "install", "-y", "-n", "envd", "-c", "http://h/c", "envtrack-urlonly"])
    assert install.target == "/envs/envd"
    assert "envtrack-urlonly" in asked_for([install], "conda", "/opt/conda/envs/envd")[0]
    # A `create -n other` too quick to be seen: the install run, still remembered, says nothing about it.
    assert asked_for([install], "conda", "/opt/conda/envs/other") == ({}, {}, False)
    assert parse_command(["conda", "install", "-p", "/opt/x/", "numpy"]).target == "/opt/x"
