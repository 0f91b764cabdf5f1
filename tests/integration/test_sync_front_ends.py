"""The front-ends that only had parser unit tests, on the real engine (issue 23): install inside
`up`, sync, rebuild, and compare the rebuilt environment with the evolved one. One environment
takes every front-end (one `up`, one sync, one rebuild), so the suite pays for it once:

  micromamba install -c URL       written with channel=[URL]; the rebuild installs it from there
  micromamba create -n other      written as a run creating env `other` with what was asked there
  python -m venv /opt/v2 + pip    written as a run creating the venv from its Python, pinned installs
  pipx install (user)             the app's venv inventoried; written as a pipx install, rebuilt in /opt/pipx
  pipx upgrade / uninstall        build.envd's pipx calls edited where they are written / removed
  uv sync / uv add (a uv project) requested; the project's own .venv keeps them (one line, nothing written)
  aptitude install                requested, written pinned
  apt-mark manual | auto          in the same burst: a dependency made requested is written, one made
                                  automatic is not; every apt package of the session as apt's records say
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from pathlib import Path

import pytest

from conftest import BASE_IMAGE, names_of, run_cli
from support.gateway_http import serve_directory
from test_conda_builtins import build_channel, build_package
from test_sync_fidelity import final_rows, wait_for

STANDIN = Path(__file__).resolve().parent.parent / "support" / "micromamba_standin.py"
MICROMAMBA = "gh/mamba-org/micromamba-releases/releases/download/2.3.3-0/micromamba-linux-64"
PIPX = "PIPX_HOME=/opt/pipx PIPX_BIN_DIR=/usr/local/bin pipx"
QUIET = ["env", "PIP_DISABLE_PIP_VERSION_CHECK=1", "DEBIAN_FRONTEND=noninteractive", "UV_PYTHON_DOWNLOADS=never"]
PYPROJECT = '[project]\nname = "uvproj"\nversion = "0.1.0"\nrequires-python = ">=3.8"\ndependencies = ["iniconfig==2.0.0"]\n'
# Every package as the agent's records read them: [manager, env, name, version, requested].
INVENTORY = (
    "import json, sys; sys.path.insert(0, '/opt/envtrack-agent')\n"
    "from envtrack.records import inventory, pipx_app\n"
    "print(json.dumps([[p.manager, p.env, p.name, p.version, p.requested, pipx_app(p.env)] for p in inventory('/')]))\n"
)


@pytest.fixture(scope="module")
def front_ends(docker_client, tmp_path_factory):
    served = tmp_path_factory.mktemp("upstreams")
    (served / MICROMAMBA).parent.mkdir(parents=True)
    (served / MICROMAMBA).write_bytes(STANDIN.read_bytes())
    (served / "conda").mkdir()
    build_channel(tmp_path_factory.mktemp("channel")).rename(served / "conda" / "conda-forge")
    # A channel of its own, named by URL: only it has envtrack-urlonly.
    import rattler.index

    own = served / "own-channel"
    (own / "noarch").mkdir(parents=True)
    build_package(tmp_path_factory.mktemp("urlonly") / "envtrack-urlonly", "envtrack-urlonly", own)
    asyncio.run(rattler.index.index_fs(own))
    project = tmp_path_factory.mktemp("front-ends") / f"front-ends-{uuid.uuid4().hex[:6]}"
    (project / "uvproj").mkdir(parents=True)
    (project / "uvproj" / "pyproject.toml").write_text(PYPROJECT)
    (project / "build.envd").write_text(f'''\
def build():
    base(image="{BASE_IMAGE}", dev=True)
    install.python()
    install.conda(use_mamba=True)
    install.python_packages(name=["pipx"])
    run(commands=["{PIPX} install pycowsay==0.0.0.1", "{PIPX} install pyjokes==0.8.2"])
''')
    with serve_directory(served) as url:
        env = {"ENVTRACK_MIRRORS": f"https://github.com/={url}/gh/ https://conda.anaconda.org/={url}/conda/"}
        channel = f"{url}/own-channel"

        def cli(*args: str):
            return run_cli(*args, cwd=project, env=env, check=True, timeout=1200)

        def sh(script: str, *, root: bool = False) -> str:
            return cli("exec", *(["--root"] if root else []), "--", *QUIET, "sh", "-c", script).stdout

        try:
            cli("up", "--progress", "quiet")
            sh(f"/opt/conda/bin/micromamba install -y -n envd -c {channel} envtrack-urlonly"
               " && /opt/conda/bin/micromamba create -y -n other envtrack-hello")
            sh("pip install -q uv && pipx install tabulate >/dev/null"
               " && cd uvproj && uv sync -q && uv add -q tomli-w==1.0.0")
            sh(f"{PIPX} upgrade pycowsay >/dev/null && {PIPX} uninstall pyjokes >/dev/null"
               " && python -m venv /opt/v2 && /opt/v2/bin/pip install -q tomli==2.0.1", root=True)
            # In one burst: the user decides what stays right after installing (apt-mark's own word).
            sh("apt-get install -y -q --no-install-recommends aptitude >/dev/null"
               " && aptitude install -y -q -R jq >/dev/null"
               " && apt-mark manual libonig5 >/dev/null && apt-mark auto aptitude >/dev/null", root=True)
            journal = project / ".envtrack" / "journal.db"
            wait_for(journal, {"envtrack-urlonly", "envtrack-hello", "pycowsay", "pyjokes", "tabulate", "tomli", "uv",
                               "iniconfig", "tomli-w", "jq", "libonig5"})
            evolved = json.loads(cli("exec", "--", "python3", "-c", INVENTORY).stdout)
            rows = wait_agreeing(journal, packages(evolved, "apt"))
            sync = cli("sync")
            synced = (project / "build.envd").read_text()
            cli("down")
            cli("up", "--progress", "quiet")
            rebuilt = json.loads(cli("exec", "--", "python3", "-c", INVENTORY).stdout)
            yield {"rows": rows, "evolved": evolved, "sync": sync, "synced": synced, "rebuilt": rebuilt,
                   "channel": channel, "cowsay": sh("pycowsay moo | grep moo").strip()}
        finally:
            run_cli("down", cwd=project)
            for image in docker_client.images.list(name=names_of(project).image_repo):
                docker_client.images.remove(image.id, force=True)
            shutil.rmtree(project / "uvproj", ignore_errors=True)


def wait_agreeing(journal: Path, apt: dict[str, tuple[str, bool]], timeout: float = 30) -> dict:
    """The journal's rows once every apt package it names is flagged as apt's records flag it."""
    deadline = time.monotonic() + timeout
    while True:
        rows = final_rows(journal)
        differ = {n: (r["requested"], apt.get(n)) for (m, n), r in rows.items()
                  if m == "apt" and r["action"] != "remove" and bool(r["requested"]) != apt.get(n, ("", None))[1]}
        if not differ:
            return rows
        assert time.monotonic() < deadline, f"the journal disagrees with apt's records: {differ}"
        time.sleep(0.5)


def packages(inventory: list, manager: str, where=lambda env, app: True) -> dict[str, tuple[str, bool]]:
    return {name: (version, requested) for m, env, name, version, requested, app in inventory
            if m == manager and where(env, app)}


def test_sync_writes_each_front_end_in_a_form_the_rebuild_reproduces(front_ends) -> None:
    text, channel = front_ends["synced"], front_ends["channel"]
    assert '"envtrack-urlonly=1.0"' in text and f'channel=["{channel}"]' in text, text
    hello = [r for (m, n), r in front_ends["rows"].items() if n == "envtrack-hello"]
    assert hello and hello[0]["env"] == "/opt/conda/envs/other" and hello[0]["requested"], hello
    assert '"conda create -y -n other envtrack-hello=1.0"' in text, text
    tomli = front_ends["rows"][("pip", "tomli")]
    python = json.loads(tomli["detail"])["python"]
    assert tomli["env"].startswith("/opt/v2/") and tomli["requested"], tomli
    assert f'"{python} -m venv /opt/v2",' in text and '"/opt/v2/bin/python -m pip install ' in text, text
    assert "tomli==2.0.1" in text, text
    # pipx: the upgrade edits build.envd's own call, the uninstall removes its, the user's app is added.
    assert f'run(commands=["{PIPX} install pycowsay==0.0.0.2"])' in text and "pyjokes" not in text, text
    assert f"{PIPX} install tabulate==" in text and '"uv==' in text, text
    assert '"jq=' in text and '"libonig5=' in text and '"aptitude=' not in text, text
    # Every apt package of the session (dependencies too) is written exactly when apt's records say
    # it was asked for, and the journal said so without waiting for the burst to end.
    apt = packages(front_ends["evolved"], "apt")
    session = {n for (m, n), r in front_ends["rows"].items() if m == "apt" and r["action"] != "remove"}
    assert {"jq", "libonig5", "aptitude", "aptitude-common", "libjq1"} <= session, session
    assert {n for n in session if f'"{n}=' in text} == {n for n in session if apt[n][1]} >= {"jq", "libonig5"}, text
    assert "iniconfig" not in text and "tomli-w" not in text, text
    said = front_ends["sync"].stdout + front_ends["sync"].stderr
    project_env = next((line for line in said.splitlines() if "iniconfig" in line), said)
    assert "environment inside the project" in project_env, project_env


def test_the_rebuilt_environment_has_what_each_front_end_asked_for(front_ends) -> None:
    evolved, rebuilt = front_ends["evolved"], front_ends["rebuilt"]
    envd = lambda env, app: env == "/opt/conda/envs/envd"   # noqa: E731
    assert packages(rebuilt, "conda", envd)["envtrack-urlonly"] == packages(evolved, "conda", envd)["envtrack-urlonly"]
    assert packages(rebuilt, "conda", envd)["envtrack-urlonly"][1]
    apps = lambda env, app: bool(app)   # noqa: E731
    assert packages(rebuilt, "pip", apps) == packages(evolved, "pip", apps) != {}
    assert packages(evolved, "pip", apps)["pycowsay"][0] == "0.0.0.2" and "pyjokes" not in packages(evolved, "pip", apps)
    other = lambda env, app: env == "/opt/conda/envs/other"   # noqa: E731
    assert packages(rebuilt, "conda", other) == packages(evolved, "conda", other) != {}
    v2 = lambda env, app: env.startswith("/opt/v2/")   # noqa: E731
    asked = lambda found: {n: v for n, (v, requested) in found.items() if requested}   # noqa: E731
    assert asked(packages(rebuilt, "pip", v2)) == asked(packages(evolved, "pip", v2)) and \
        packages(rebuilt, "pip", v2)["tomli"] == ("2.0.1", True)
    assert front_ends["cowsay"] == "< moo >"
    uv = lambda env, app: env.startswith("/workspace/uvproj/.venv/")   # noqa: E731
    assert packages(rebuilt, "pip", uv) == packages(evolved, "pip", uv)
    assert packages(evolved, "pip", uv)["iniconfig"][1] and packages(evolved, "pip", uv)["tomli-w"][1]
    apt_evolved, apt_rebuilt = packages(evolved, "apt"), packages(rebuilt, "apt")
    assert asked(apt_rebuilt) == asked(apt_evolved) and {"jq", "libonig5"} <= set(asked(apt_evolved))
    assert not apt_evolved["aptitude"][1] and "aptitude" not in apt_rebuilt
