"""States in build.envd on the real BuildKit: branches side by side, merge, diff, caching, scratch.

Every test runs three times: on the system Engine (20.10, BuildKit v0.8: the replay fallback),
on the peer Engine 26 on its graph-driver store (BuildKit v0.13 without the mergeop cap: the
fallback on a newer BuildKit) and on a peer Engine 26 on the containerd image store (BuildKit
v0.13 with the mergeop/diffop caps: real MergeOp/DiffOp); each run first checks that envtrack
chose that lowering.
"""

from __future__ import annotations

import io
import json
import sqlite3
import tarfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import BASE_IMAGE, run_cli
from test_build_engine import make_project

from envtrack.endpoints import resolve_for
from envtrack.solve.caps import supports_merge_op


@dataclass(frozen=True)
class Engine:
    env: dict[str, str]      # what points envtrack (and the docker SDK) at it
    client: object           # docker SDK client
    lowering: str            # "mergeop" | "fallback"
    base: str                # a private tag of the base image (see test_build_engine.private_base)


@pytest.fixture(params=["system", "peer", "mergeop"])
def engine(request, docker_client, monkeypatch):
    if request.param == "system":
        env, client, lowering = {"DOCKER_HOST": "unix:///var/run/docker.sock"}, docker_client, "fallback"
    elif request.param == "peer":
        peer = request.getfixturevalue("peer_engine")
        env, client, lowering = peer.env(), peer.client(), "fallback"
    else:
        peer = request.getfixturevalue("mergeop_engine")
        env, client, lowering = peer.env(), peer.client(), "mergeop"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert ("mergeop" if supports_merge_op(resolve_for(Path.cwd())) else "fallback") == lowering
    base = f"envtrack/test-base:{uuid.uuid4().hex[:12]}"
    client.images.get(BASE_IMAGE).tag(*base.split(":"))
    yield Engine(env, client, lowering, base)
    client.images.remove(base, noprune=True)


def build_json(directory) -> dict:
    proc = run_cli("build", str(directory), "--progress", "plain", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def run_image(engine: Engine, image: str, script: str) -> str:
    return engine.client.containers.run(image, ["/bin/sh", "-c", script], entrypoint=[], remove=True).decode()


def step_states(result: dict) -> dict[str, str]:
    return {step["label"]: step["state"] for step in result["steps"]}


SLEEPERS = """\
def build():
    base(image="{base}")
    left = branch()
    run(commands=["date +%s.%N > /left-start", "sleep 10", "date +%s.%N > /left-end"], into=left)
    right = branch()
    run(commands=["date +%s.%N > /right-start", "sleep 10", "date +%s.%N > /right-end"], into=right)
    return merge([left, right])
"""


def test_two_ten_second_branches_run_at_the_same_time(engine, tmp_path):
    directory = make_project(tmp_path, SLEEPERS.format(base=engine.base))
    result = build_json(directory)
    times = run_image(engine, result["image"],
                      "cat /left-start /left-end /right-start /right-end").split()
    left_start, left_end, right_start, right_end = (float(t) for t in times)
    overlap = min(left_end, right_end) - max(left_start, right_start)
    # Both sleeps were running together for nearly all of their 10 s: the branches were
    # solved side by side (one after the other would give no overlap at all).
    assert overlap > 8, (times, engine.lowering)


APT_AND_PIP = """\
def build():
    base(image="{base}")
    install.python()
    system = branch()
    install.apt_packages(name=["jq"], into=system)
    run(commands=["rm /etc/issue.net"], into=system)
    py = branch()
    install.python_packages(name=["six"], into=py)
    return merge([system, py])
"""


def test_apt_in_one_branch_and_pip_in_another_merge_into_one_image(engine, tmp_path):
    directory = make_project(tmp_path, APT_AND_PIP.format(base=engine.base))
    result = build_json(directory)
    output = run_image(engine, result["image"],
                       "jq --version; python -c 'import six; print(six.__name__)'; "
                       "test -e /etc/issue.net && echo kept || echo deleted; test -e /etc/issue && echo base")
    # Both branches' changes, the deletion one branch made included, over the common base.
    assert output.split() == ["jq-1.6", "six", "deleted", "base"], engine.lowering


DIFF_ONTO_OTHER = """\
def build():
    plain = image("{base}")
    tool = branch(of=plain)
    run(commands=["mkdir -p /opt/tool", "echo built > /opt/tool/out", "rm /etc/issue"], into=tool)
    other = image("{base}")
    run(commands=["echo other > /other"], into=other)
    return merge([other, diff(plain, tool)])
"""


def test_a_diff_of_a_build_step_layers_onto_another_base(engine, tmp_path):
    directory = make_project(tmp_path, DIFF_ONTO_OTHER.format(base=engine.base))
    result = build_json(directory)
    output = run_image(engine, result["image"],
                       "cat /opt/tool/out /other; test -e /etc/issue && echo kept || echo deleted")
    assert output.split() == ["built", "other", "deleted"], engine.lowering


MIXED = """\
def build():
    base(image="{base}")
    system = branch()
    install.apt_packages(name=["jq"], into=system)
    py = branch()
    run(commands=["echo py > /py"], into=py)
    tool = image("{base}")
    built = branch(of=tool)
    run(commands=["echo built > /built"], into=built)
    return merge([system, py, diff(tool, built)])
"""


def test_branches_and_a_diff_merge_onto_the_branches_common_state(engine, tmp_path):
    directory = make_project(tmp_path, MIXED.format(base=engine.base))
    result = build_json(directory)
    # dpkg's status from the apt branch survives: the py branch's copy of the base does not
    # overwrite it, because branches are layered as their changes onto main.
    output = run_image(engine, result["image"], "cat /py /built; jq --version; "
                                                "grep -A1 -x 'Package: jq' /var/lib/dpkg/status | tail -1")
    assert output.splitlines() == ["py", "built", "jq-1.6", "Status: install ok installed"], engine.lowering


CHANGING = """\
def build():
    base(image="{base}")
    run(commands=["echo {token} > /token"])
    left = branch()
    run(commands=["echo left > /left"], into=left)
    right = branch()
    run(commands=["echo {word} > /right"], into=right)
    return merge([left, right])
"""


def test_changing_one_branch_leaves_the_other_cached(engine, tmp_path):
    token = uuid.uuid4().hex   # a fresh chain: nothing of it is in the cache before this test
    directory = make_project(tmp_path, CHANGING.format(base=engine.base, word="first", token=token))
    first = build_json(directory)
    assert step_states(first)["run echo left > /left"] == "done"
    (directory / "build.envd").write_text(CHANGING.format(base=engine.base, word="second", token=token))
    second = build_json(directory)
    after = step_states(second)
    assert after["run echo left > /left"] == "cached", (after, engine.lowering)
    assert after["run echo second > /right"] == "done", after
    assert run_image(engine, second["image"], "cat /left /right").split() == ["left", "second"]


CONFIGURED = r"""
def build():
    base(image="{base}")
    left = branch()
    run(commands=["echo left > /left"], into=left)
    right = branch()
    run(commands=["echo {token} > /right"], into=right)
    runtime.environ(env={{"LITERAL": "$HOME/x ${{PATH}}", "QUOTED": "a\"b\\c"}})
    config.entrypoint(args=["env", "--"])
    return merge([left, right])
"""


def test_the_image_config_is_written_in_the_solve_and_only_the_steps_are_shown(engine, tmp_path):
    """BuildKit v0.11+ reads the steps as the config Dockerfile's named context (one solve);
    v0.8 builds a raw image first and removes it. Either way: the config reads back literally,
    no raw tag is left, and the progress names the user's steps, not the frontend's."""
    directory = make_project(tmp_path, CONFIGURED.format(base=engine.base, token=uuid.uuid4().hex))
    proc = run_cli("build", str(directory), "--progress", "plain", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    config = engine.client.images.get(result["image"]).attrs["Config"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["LITERAL"] == "$HOME/x ${PATH}" and env["QUOTED"] == 'a"b\\c', env
    assert config["Entrypoint"] == ["env", "--"] and config["WorkingDir"] == "/workspace"
    assert run_image(engine, result["image"], "cat /left").strip() == "left"
    assert "[internal]" not in proc.stderr and "image config" not in proc.stderr and "WORKDIR" not in proc.stderr
    assert "run echo left > /left" in proc.stderr and "exporting to image" in proc.stderr, proc.stderr
    repo = result["image"].rsplit(":", 1)[0]
    tags = [tag for found in engine.client.images.list(repo) for tag in found.tags]
    assert sorted(tags) == sorted([result["image"], f"{repo}:latest"]), tags


SCRATCH = """\
def build():
    app = scratch()
    io.copy(host_path="app", envd_path="/app", into=app)
    return app
"""


def test_build_can_return_a_scratch_state_with_copied_files(engine, tmp_path):
    directory = make_project(tmp_path, SCRATCH)
    (directory / "app").mkdir()
    (directory / "app" / "hello.txt").write_text("hello from the host\n")
    result = build_json(directory)
    container = engine.client.containers.create(result["image"], command=["/none"])
    try:
        stream, _ = container.get_archive("/")
        archive = tarfile.open(fileobj=io.BytesIO(b"".join(stream)))
        members = {m.name.removeprefix("./").strip("/"): m for m in archive.getmembers()}
        top = {name.split("/")[0] for name in members if name not in ("", ".")}
        hello = next(m for name, m in members.items() if name.endswith("app/hello.txt"))
        assert archive.extractfile(hello).read() == b"hello from the host\n"
    finally:
        container.remove()
    # Nothing but the copied files and what the Engine puts in every container's root (and WORKDIR).
    assert "app" in top and top <= {"app", ".dockerenv", "dev", "etc", "proc", "sys", "workspace"}, top


SYNCED = """\
def build():
    base(image="{base}")
    run(commands=["echo {token} > /token"])
    install.python()
    system = branch()
    install.apt_packages(name=["jq"], into=system)
    py = branch()
    install.python_packages(name=["six"], into=py)
    return merge([system, py])
"""
PIP_ENV = ["env", "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_CACHE_DIR=1"]


def test_a_merged_environment_is_journaled_and_synced_into_the_image_state(engine, tmp_path):
    directory = make_project(tmp_path, SYNCED.format(base=engine.base, token=uuid.uuid4().hex))
    try:
        run_cli("up", cwd=directory, check=True)
        run_cli("exec", "--", *PIP_ENV, "python3", "-m", "pip", "install", "-q", "tomli", cwd=directory, check=True)
        journal = directory / ".envtrack" / "journal.db"
        deadline = time.monotonic() + 90
        names: set[str] = set()
        while time.monotonic() < deadline and "tomli" not in names:
            time.sleep(1)
            if journal.exists():
                with sqlite3.connect(journal) as db:
                    names = {row[0].lower() for row in db.execute("SELECT name FROM changes")}
        assert "tomli" in names, names   # the agent watches a merged image like any other
        report = json.loads(run_cli("sync", "--json", cwd=directory, check=True).stdout)
        assert report["written"], report
        text = (directory / "build.envd").read_text()
        assert '], into="merge")\n    return merge([system, py])\n' in text, text
        run_cli("down", cwd=directory, check=True)
        rebuilt = build_json(directory)
    finally:
        run_cli("down", cwd=directory)
    after = step_states(rebuilt)
    # Only the new step on top of the merge ran: both branches and their base came from the cache.
    assert after["install.apt_packages jq"] == after["install.python_packages six"] == "cached", after
    assert after["install.python 3.11"] == "cached", after
    new = [label for label in after if label.startswith("install.python_packages tomli==")]
    assert new and after[new[0]] == "done", after
    output = run_image(engine, rebuilt["image"], "jq --version; python -c 'import six, tomli; print(\"ok\")'")
    assert output.split() == ["jq-1.6", "ok"]
