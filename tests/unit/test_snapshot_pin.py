"""`up --locked`: a Plan plus a Lock gives a Plan whose requested packages are pinned."""

from __future__ import annotations

import pytest

from envtrack.errors import LocatedError, Position
from envtrack.frontend.steps import Plan, Step
from envtrack.records import Package
from envtrack.snapshot.lock import Lock
from envtrack.snapshot.pin import pin_plan

SITE = "/usr/local/lib/python3.11/dist-packages"
LOCK = Lock((
    Package("apt", "jq", "1.6-2.1", "/", True, arch="amd64"),
    Package("apt", "libjq1", "1.6-2.1", "/", False, arch="amd64"),
    Package("pip", "six", "1.16.0", SITE, True),
    Package("pip", "typing-extensions", "4.8.0", SITE, False),
    Package("pip", "typing-extensions", "4.9.0", "/opt/venv/lib/python3.11/site-packages", True),
    Package("pip", "requests", "2.31.0", SITE, True),
    Package("conda", "numpy", "1.26.0", "/opt/conda", True, source="conda-forge", build="py311_0"),
    Package("conda", "zlib", "1.2.13", "/opt/conda", True),
))


def _step(kind: str, line: int, **args) -> Step:
    return Step(kind, args, Position("build.envd", line, 5))


def _plan(*steps: Step) -> Plan:
    return Plan("build.envd", "build", steps)


def test_requested_packages_get_the_locked_versions_in_user_order():
    plan = _plan(
        _step("base", 2, image="envtrack/base:bookworm", dev=False),
        _step("install.apt_packages", 3, name=["jq:amd64", "libjq1=1.5"]),
        _step("install.python_packages", 4, name=["Six>=1.0", "requests[socks] ; python_version>'3'",
                                                  "typing_extensions"],
              requirements="", local_wheels=[]),
        _step("install.conda_packages", 5, name=["conda-forge::numpy>=1.20", "zlib"], channel=[]),
        _step("run", 6, commands=["echo hi"], mount_host=False),
    )
    pinned = pin_plan(plan, LOCK)
    steps = pinned.plan.steps
    assert steps[0] == plan.steps[0] and steps[4] == plan.steps[4]
    assert steps[1].args["name"] == ["jq:amd64=1.6-2.1", "libjq1=1.6-2.1"]
    assert steps[2].args["name"] == ["Six==1.16.0", "requests[socks]==2.31.0; python_version>'3'",
                                     "typing_extensions==4.9.0"]  # the requested copy wins
    assert steps[2].args["requirements"] == "" and steps[2].position == plan.steps[2].position
    assert steps[3].args["name"] == ["conda-forge::numpy=1.26.0=py311_0", "zlib==1.2.13"]
    assert [(p.manager, p.name, p.version) for p in pinned.pins][:3] == [
        ("apt", "jq", "1.6-2.1"), ("apt", "libjq1", "1.6-2.1"), ("pip", "six", "1.16.0")]
    assert plan.steps[1].args["name"] == ["jq:amd64", "libjq1=1.5"]  # the input plan is untouched


def test_direct_urls_are_left_as_they_are():
    url = "tomli @ https://example.org/tomli-2.0.1-py3-none-any.whl"
    plan = _plan(_step("install.python_packages", 3, name=[url], requirements="", local_wheels=[]))
    assert pin_plan(plan, LOCK).plan.steps[0].args["name"] == [url]


def test_a_package_missing_from_the_lock_fails_at_its_step():
    plan = _plan(_step("install.apt_packages", 7, name=["jq", "curl"]))
    with pytest.raises(LocatedError) as caught:
        pin_plan(plan, LOCK, "team.lock")
    assert str(caught.value).startswith("build.envd:7:5: apt package 'curl' is not in team.lock")


def test_a_missing_pinned_version_is_named_in_the_error():
    from pathlib import Path

    from envtrack.errors import EnvtrackError
    from envtrack.snapshot.locked import explain_failure
    from envtrack.snapshot.pin import Pin

    pins = (Pin("apt", "jq", "1.6-2.1", "jq=1.6-2.1"), Pin("pip", "typing-extensions", "4.9.0", "typing_extensions==4.9.0"))
    apt_log = EnvtrackError("step install.apt_packages failed:\nE: Version '1.6-2.1' for 'jq' was not found")
    explained = explain_failure(apt_log, pins, Path("envtrack.lock"))
    assert explained.message == "pinned version not available: apt jq 1.6-2.1 (from envtrack.lock)"
    pip_log = EnvtrackError("ERROR: No matching distribution found for typing_extensions==4.9.0")
    assert "pip typing-extensions 4.9.0" in explain_failure(pip_log, pins, Path("envtrack.lock")).message
    unrelated = EnvtrackError("executor failed running [/bin/sh -c exit 3]: exit code: 3")
    assert explain_failure(unrelated, pins, Path("envtrack.lock")) is unrelated


def test_up_locked_reads_a_lock_given_where_build_envd_would_be(tmp_path):
    from envtrack.snapshot.locked import split_up_arguments

    lock = tmp_path / "team-lock.json"
    lock.write_text('{"envtrack_lock": 1}\n')
    (tmp_path / "build.envd").write_text("def build():\n    pass\n")
    assert split_up_arguments("team.lock", None) == (None, "team.lock")
    assert split_up_arguments(str(lock), None) == (None, str(lock))
    assert split_up_arguments(str(tmp_path), None) == (str(tmp_path), None)
    assert split_up_arguments(str(tmp_path / "build.envd"), None) == (str(tmp_path / "build.envd"), None)
    assert split_up_arguments(str(tmp_path), "other.lock") == (str(tmp_path), "other.lock")
    assert split_up_arguments(None, None) == (None, None)
