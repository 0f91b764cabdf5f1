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


def test_apt_mark_names_what_it_makes_manual_or_automatic() -> None:
    run = parse("/usr/bin/apt-mark", "manual", "libonig5", "jq:amd64")
    assert (run.manager, run.mark, [a.name for a in run.asked]) == ("apt", "manual", ["libonig5", "jq"])
    assert parse("apt-mark", "-q", "auto", "aptitude").mark == "auto"
    for argv in (("apt-mark", "showmanual"), ("apt-mark", "hold", "jq"), ("apt-mark",)):
        assert parse(*argv) is None, argv
    # apt-mark asks for nothing itself: it is no install command line.
    assert asked_for([run], "apt") == ({}, {}, False)


def test_apt_flags_follow_the_running_front_end_then_apts_records() -> None:
    from dataclasses import replace

    from envtrack.agent.apt_history import AptEntry
    from envtrack.agent.batch import journal_rows
    from envtrack.records import PackageChange

    entry = AptEntry("aptitude install -y jq", automatic={"libonig5", "libjq1"}, named={"jq", "libonig5", "libjq1"})
    installs = [PackageChange("apt", "/", name, "install", None, "1", True) for name in ("jq", "libjq1", "libonig5")]
    aptitude = parse("aptitude", "install", "-y", "jq")
    mark = parse("apt-mark", "manual", "libonig5")
    mark.seen = aptitude.seen + 1

    def flags(*runs):
        rows = journal_rows(installs, root="/", time="t", reconciled=False, apt_entry=entry, runs=runs)
        return {r.name: r.requested for r in rows}

    # While aptitude runs, extended_states may lag it: its command line and the history decide.
    assert flags(aptitude) == {"jq": True, "libjq1": False, "libonig5": False}
    # An apt-mark of the same burst, still running, is the user's later word.
    assert flags(aptitude, mark) == {"jq": True, "libjq1": False, "libonig5": True}
    # Once every apt front-end has exited, apt's records are their final word (here: all manual).
    assert flags(replace(aptitude, running=False), replace(mark, running=False)) == dict.fromkeys(("jq", "libjq1", "libonig5"), True)
    marked = PackageChange("apt", "/", "libonig5", "mark", "1", "1", True)
    row = journal_rows([marked], root="/", time="t", reconciled=False, apt_entry=entry,
                       runs=[replace(mark, running=False)])[0]
    assert row.requested and row.detail["commandline"] == "apt-mark manual libonig5"


def test_a_conda_run_that_names_its_environment_explains_only_that_ones_changes() -> None:
    install = parse_command(["micromamba", "install", "-y", "-n", "envd", "-c", "http://h/c", "envtrack-urlonly"])
    assert install.target == "/envs/envd"
    assert "envtrack-urlonly" in asked_for([install], "conda", "/opt/conda/envs/envd")[0]
    # A `create -n other` too quick to be seen: the install run, still remembered, says nothing about it.
    assert asked_for([install], "conda", "/opt/conda/envs/other") == ({}, {}, False)
    assert parse_command(["conda", "install", "-p", "/opt/x/", "numpy"]).target == "/opt/x"


def test_uv_add_asks_for_the_project_dependencies_it_syncs_and_what_it_adds() -> None:
    # `uv sync` may be gone before it is seen; the `uv add` after it installs the project's rest too.
    assert names(parse("uv", "add", "tomli-w==1.0.0", cwd="/workspace/proj")) == {
        "httpx": "httpx>=0.27", "six": "six", "tomli-w": "tomli-w==1.0.0"}


def fake_process(proc, pid: int, argv: list[str], *, exe: str, path: str = "/usr/bin:/bin") -> None:
    """What /proc shows of one process: its command line, start time, environment, binary and root."""
    (proc / str(pid)).mkdir(parents=True)
    (proc / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (proc / str(pid) / "stat").write_text(f"{pid} (x) S " + " ".join(["0"] * 18) + " 4242 0\n")
    (proc / str(pid) / "environ").write_bytes(f"HOME=/root\0PATH={path}\0".encode())
    (proc / str(pid) / "exe").symlink_to(exe)
    (proc / str(pid) / "cwd").symlink_to("/")
    (proc / str(pid) / "root").symlink_to(proc.parent / "root")


def test_a_pip_run_explains_only_the_environment_of_the_python_it_runs_in(tmp_path) -> None:
    from envtrack.agent.installers import Installers

    root, proc = tmp_path / "root", tmp_path / "proc"
    (root / "opt/v2/bin").mkdir(parents=True)
    (root / "opt/v2/pyvenv.cfg").write_text("home = /usr/bin\n")
    (root / "opt/v2/bin/python").write_text("")
    fake_process(proc, 11, ["/opt/v2/bin/python3", "/opt/v2/bin/pip", "install", "tomli==2.0.1"], exe="/usr/bin/python3.11")
    fake_process(proc, 12, ["python", "-m", "pip", "install", "six"], exe="/usr/bin/python3.11", path="/opt/v2/bin:/usr/bin")
    fake_process(proc, 13, ["/usr/bin/python3", "-m", "pip", "install", "--break-system-packages", "idna"],
                 exe="/usr/bin/python3.11")
    fake_process(proc, 14, ["uv", "pip", "install", "--python", "/opt/v2", "iniconfig"], exe="/usr/local/bin/uv")
    installers = Installers(str(proc))
    installers.scan(force=True)
    runs = installers.take()
    assert {run.asked[0].name: run.target for run in runs} == {"tomli": "/opt/v2", "six": "/opt/v2", "idna": "/usr",
                                                                "iniconfig": "/opt/v2"}
    runs = [run for run in runs if run.asked[0].name == "tomli"]
    # The main venv's changes are no dependencies of what /opt/v2's pip asked for.
    assert asked_for(runs, "pip", "/opt/envtrack/venv/lib/python3.11/site-packages") == ({}, {}, False)
    assert "tomli" in asked_for(runs, "pip", "/opt/v2/lib/python3.11/site-packages")[0]


def test_a_venvs_rows_say_which_python_made_it(tmp_path) -> None:
    from envtrack.records import venv_detail

    (tmp_path / "opt/v2").mkdir(parents=True)
    (tmp_path / "opt/v2/pyvenv.cfg").write_text("home = /usr/local/bin\ninclude-system-site-packages = true\nversion = 3.9.2\n")
    assert venv_detail(str(tmp_path), "/opt/v2/lib/python3.9/site-packages") == {"python": "/usr/local/bin/python3.9",
                                                                                 "system_site": True}
    (tmp_path / "opt/v2/pyvenv.cfg").write_text("home = /usr/bin\nversion_info = 3.11.2\nexecutable = /usr/bin/python3.11\n")
    assert venv_detail(str(tmp_path), "/opt/v2/lib/python3.11/site-packages") == {"python": "/usr/bin/python3.11"}
    assert venv_detail(str(tmp_path), "/usr/lib/python3/dist-packages") == {}


def test_pipx_and_uv_project_runs_explain_only_their_own_venvs(tmp_path) -> None:
    from envtrack.agent.installers import Installers

    root, proc = tmp_path / "root", tmp_path / "proc"
    (root / "workspace/uvproj").mkdir(parents=True)
    (root / "workspace/uvproj/pyproject.toml").write_text('[project]\nname = "p"\ndependencies = ["iniconfig"]\n')
    fake_process(proc, 21, ["/opt/envtrack/venv/bin/python", "/opt/envtrack/venv/bin/pipx", "install", "tabulate"],
                 exe="/usr/bin/python3.11")
    fake_process(proc, 22, ["uv", "add", "tomli-w"], exe="/usr/local/bin/uv")
    (proc / "22" / "cwd").unlink()
    (proc / "22" / "cwd").symlink_to("/workspace/uvproj")
    installers = Installers(str(proc))
    installers.scan(force=True)
    runs = installers.take()
    assert sorted(run.target for run in runs) == ["/root/.local", "/workspace/uvproj/.venv"]
    uv_site = "/workspace/uvproj/.venv/lib/python3.11/site-packages"
    # The app pipx installed a moment ago does not make the uv project's packages dependencies.
    by_name, _, understood = asked_for(runs, "pip", uv_site)
    assert set(by_name) == {"iniconfig", "tomli-w"} and understood
    assert set(asked_for(runs, "pip", "/root/.local/share/pipx/venvs/tabulate/lib/python3.11/site-packages")[0]) == {"tabulate"}
