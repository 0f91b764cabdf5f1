"""What the user asked for, from each installer and source, comes back after sync and a rebuild
(issue 23), on the real engine. One environment takes every install (grouped: one `up`, one
sync, one rebuild), so the suite pays for the environment once:

  uv pip install (after pip install uv)   tomli-w requested although uv marks everything REQUESTED
  python -m pip install "requests[socks]"  the extra kept; PySocks a dependency
  pip3 install ./vendor/mylib              from the project at build time, its dependency six too
  pip install -e ./vendor/editlib          editable against the mounted project after the rebuild
  pip install -r requirements.txt          the file's entries requested
  apt-get install tree                     requested, pinned
  dpkg -i hello_*.deb                      one line: a local .deb, why, what would make it reproducible
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from pathlib import Path

import pytest

from conftest import run_cli

BUILD_ENVD = """\
def build():
    base(image="envtrack/base:bookworm", dev=True)
    install.python()
"""
PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "0.1.0"
dependencies = {dependencies}
"""
QUIET = ["env", "PIP_DISABLE_PIP_VERSION_CHECK=1", "DEBIAN_FRONTEND=noninteractive"]
ASKED = {"uv", "tomli-w", "requests", "mylib", "editlib", "tomli"}
DEPENDENCIES = {"pysocks", "six", "urllib3", "idna", "certifi", "charset-normalizer"}
# The venv's pip packages as the records package reads them, from the agent's bundle.
INVENTORY = (
    "import json, sys; sys.path.insert(0, '/opt/envtrack-agent')\n"
    "from envtrack.records import read_pip\n"
    "print(json.dumps({p.name: [p.version, p.requested] for p in read_pip('/') if p.env.startswith('/opt/envtrack/venv')}))\n"
)


def cli(project: Path, *args: str, timeout: int = 1200):
    return run_cli(*args, cwd=project, check=True, timeout=timeout)


def sh(project: Path, script: str, *, root: bool = False) -> str:
    return cli(project, "exec", *(["--root"] if root else []), "--", *QUIET, "sh", "-c", script).stdout


def write_package(project: Path, name: str, dependencies: list[str], value: str) -> None:
    (project / "vendor" / name / name).mkdir(parents=True)
    (project / "vendor" / name / "pyproject.toml").write_text(PYPROJECT.format(name=name, dependencies=json.dumps(dependencies)))
    (project / "vendor" / name / name / "__init__.py").write_text(f"VALUE = {value!r}\n")


def final_rows(journal: Path) -> dict[tuple[str, str], dict]:
    with sqlite3.connect(journal) as db:
        db.row_factory = sqlite3.Row
        return {(r["manager"], r["name"]): dict(r) for r in db.execute("SELECT * FROM changes ORDER BY id")}


def wait_for(journal: Path, names: set[str], timeout: float = 120) -> dict[tuple[str, str], dict]:
    deadline = time.monotonic() + timeout
    while True:
        rows = final_rows(journal) if journal.exists() else {}
        if names <= {name for _, name in rows}:
            time.sleep(1)   # a late mark row would come within the agent's debounce
            return final_rows(journal)
        assert time.monotonic() < deadline, f"not journaled: {sorted(names - {n for _, n in rows})}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def fidelity(docker_client, tmp_path_factory):
    project = tmp_path_factory.mktemp("fidelity") / f"fidelity-{uuid.uuid4().hex[:6]}"
    project.mkdir()
    (project / "build.envd").write_text(BUILD_ENVD)
    write_package(project, "mylib", ["six"], "mylib")
    write_package(project, "editlib", [], "v1")
    (project / "requirements.txt").write_text("tomli==2.0.1\n")
    try:
        cli(project, "up", "--progress", "quiet")
        sh(project, 'pip install -q uv && uv pip install -q --python "$(command -v python)" tomli-w')
        sh(project, 'python -m pip install -q "requests[socks]==2.31.0"')
        sh(project, "pip3 install -q ./vendor/mylib && pip install -q -e ./vendor/editlib && pip install -q -r requirements.txt")
        sh(project, "apt-get install -y -q --no-install-recommends tree >/dev/null"
                    " && cd /tmp && apt-get download -q hello >/dev/null && dpkg -i /tmp/hello_*.deb >/dev/null", root=True)
        rows = wait_for(project / ".envtrack" / "journal.db", ASKED | {"pysocks", "six", "tree", "hello"})
        evolved = json.loads(cli(project, "exec", "--", "python3", "-c", INVENTORY).stdout)
        sync = cli(project, "sync")
        synced = (project / "build.envd").read_text()
        cli(project, "down")
        cli(project, "up", "--progress", "quiet")
        rebuilt = json.loads(cli(project, "exec", "--", "python3", "-c", INVENTORY).stdout)
        (project / "vendor" / "editlib" / "editlib" / "__init__.py").write_text("VALUE = 'v2'\n")
        live = sh(project, "python -c 'import editlib; print(editlib.VALUE)'").strip()
        yield {"rows": rows, "evolved": evolved, "sync": sync, "synced": synced, "rebuilt": rebuilt, "live": live,
               "tree": sh(project, "dpkg-query -W -f '${Version}' tree")}
    finally:
        run_cli("down", cwd=project)
        for image in docker_client.images.list(name=f"envtrack/{project.name}"):
            docker_client.images.remove(image.id, force=True)


def test_every_front_end_journals_who_asked_for_what(fidelity) -> None:
    flags = {name: bool(row["requested"]) for (manager, name), row in fidelity["rows"].items() if manager == "pip"}
    assert {n for n in ASKED if not flags.get(n)} == set(), flags
    assert not {n for n in DEPENDENCIES if flags.get(n)}, flags
    assert json.loads(fidelity["rows"][("pip", "requests")]["detail"])["asked"] == "requests[socks]==2.31.0"
    assert fidelity["rows"][("apt", "tree")]["requested"] and fidelity["rows"][("apt", "hello")]["requested"]
    assert json.loads(fidelity["rows"][("apt", "hello")]["detail"])["deb"].startswith("/tmp/hello_")


def test_sync_writes_each_source_in_a_form_the_rebuild_reproduces(fidelity) -> None:
    text, rows = fidelity["synced"], fidelity["rows"]
    version = {name: row["new_version"] for (_, name), row in rows.items()}
    for entry in (f'"tomli-w=={version["tomli-w"]}"', '"requests[socks]==2.31.0"', '"./vendor/mylib"',
                  '"--editable=./vendor/editlib"', '"tomli==2.0.1"', f'"uv=={version["uv"]}"',
                  f'"tree={version["tree"]}"'):
        assert entry in text, text
    assert "pysocks" not in text.lower() and '"six' not in text and "hello" not in text
    warning = next(line for line in fidelity["sync"].stderr.splitlines() + fidelity["sync"].stdout.splitlines()
                   if "hello" in line)
    assert "local .deb" in warning and "config.apt_source" in warning, warning


def test_the_rebuilt_environment_has_what_was_asked_for(fidelity) -> None:
    evolved, rebuilt = fidelity["evolved"], fidelity["rebuilt"]
    assert {n: v[0] for n, v in rebuilt.items()} == {n: v[0] for n, v in evolved.items()}
    assert {n for n, (_, requested) in rebuilt.items() if requested} >= ASKED
    assert fidelity["tree"] == fidelity["rows"][("apt", "tree")]["new_version"]
    assert fidelity["live"] == "v2", "the editable install must follow the mounted project"
