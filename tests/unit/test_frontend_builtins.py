"""Argument binding for envd builtins, step labels, and load_plan's public surface."""

from __future__ import annotations

from pathlib import Path

import pytest

from envtrack.errors import EnvtrackError, LocatedError, Position
from envtrack.frontend import Plan, Step, load_plan
from envtrack.frontend.builtins import BUILTINS, ArgumentError, bind_arguments


def bind(kind: str, *args, **kwargs):
    return bind_arguments(BUILTINS[kind], args, kwargs)


def test_defaults_are_filled_in_with_envd_names() -> None:
    assert bind("install.python_packages", ["six"]) == {"name": ["six"], "requirements": "", "local_wheels": []}
    assert bind("run", ["x"]) == {"commands": ["x"], "mount_host": False}
    assert bind("base") == {"image": "ubuntu:22.04", "dev": False}  # envd v1.x default
    assert bind("runtime.expose", 8888) == {"envd_port": 8888, "host_port": 0, "service": "", "listen_addr": "127.0.0.1"}


def test_optional_parameters_take_none_as_default() -> None:
    assert bind("runtime.expose", 80, None, service=None, listen_addr=None) == {
        "envd_port": 80, "host_port": 0, "service": "", "listen_addr": "127.0.0.1",
    }
    with pytest.raises(ArgumentError):
        bind("runtime.expose", None)


def test_defaults_are_fresh_copies() -> None:
    first = bind("install.apt_packages")
    first["name"].append("mutated")
    assert bind("install.apt_packages") == {"name": []}


def test_tuples_become_lists() -> None:
    assert bind("install.apt_packages", ("jq", "curl")) == {"name": ["jq", "curl"]}


def test_io_copy_accepts_both_envd_spellings() -> None:
    assert bind("io.copy", source="a", target="/b") == {"host_path": "a", "envd_path": "/b", "image": ""}
    assert bind("io.copy", "a", envd_path="/b", image=None) == {"host_path": "a", "envd_path": "/b", "image": ""}


@pytest.mark.parametrize(
    ("kind", "args", "kwargs", "message"),
    [
        ("install.apt_packages", ("jq",), {}, "install.apt_packages: for parameter 'name': got string, want list of strings"),
        ("base", (), {"dev": 1}, "base: for parameter 'dev': got int, want bool"),
        ("runtime.expose", (True,), {}, "runtime.expose: for parameter 'envd_port': got bool, want int"),
        ("runtime.environ", ({"A": 1},), {}, "runtime.environ: for parameter 'env': got dict with non-string items, want dict of strings"),
        ("run", (), {}, "run: missing argument 'commands'"),
        ("shell", ("a", "b"), {}, "shell: got 2 positional arguments, want at most 1"),
        ("install.python", ("3.11",), {"version": "3.10"}, "install.python: got multiple values for argument 'version'"),
        ("config.pip_index", (), {"uri": "x"}, "config.pip_index: unexpected keyword argument 'uri' (did you mean 'url'?)"),
        ("runtime.expose", (0,), {}, "runtime.expose: envd_port must be between 1 and 65535, got 0"),
        ("runtime.expose", (80, 70000), {}, "runtime.expose: host_port must be between 0 and 65535 (0 picks a free port), got 70000"),
        ("runtime.expose", (80,), {"listen_addr": "localhost"}, "runtime.expose: listen_addr must be an IP address, got 'localhost'"),
        (
            "install.conda_packages", (["numpy"],), {"env_file": "env.yml"},
            "install.conda_packages: env_file and name/channel are mutually exclusive",
        ),
    ],
)
def test_bad_arguments_are_explained(kind, args, kwargs, message) -> None:
    with pytest.raises(ArgumentError) as caught:
        bind(kind, *args, **kwargs)
    assert str(caught.value) == message


def _step(kind: str, **args) -> Step:
    return Step(kind, bind(kind, **args), Position("b", 1, 1))


def test_labels() -> None:
    assert _step("install.apt_packages", name=["jq", "curl"]).label == "install.apt_packages jq curl"
    assert _step("run", commands=["echo hi"]).label == "run echo hi"
    assert _step("run", commands=["a", "b"]).label == "run a; b"
    assert _step("io.copy", host_path="src", envd_path="/w").label == "io.copy src -> /w"
    assert _step("install.python_packages", requirements="req.txt").label == "install.python_packages -r req.txt"
    long = _step("run", commands=["echo " + "x" * 100]).label
    assert len(long) == 60 and long.endswith("…")
    assert "\n" not in _step("config.apt_source", source="deb a\ndeb b\n").label


def test_load_plan_accepts_a_directory(tmp_path: Path) -> None:
    (tmp_path / "build.envd").write_text('def build():\n    install.apt_packages(name=["jq"])\n')
    plan = load_plan(tmp_path)
    assert isinstance(plan, Plan) and plan.target == "build"
    assert plan.file == f"{tmp_path}/build.envd"
    assert [s.kind for s in plan.steps] == ["install.apt_packages"]
    assert plan.sources[plan.file].startswith("def build")


def test_load_plan_records_loaded_sources(tmp_path: Path) -> None:
    (tmp_path / "lib.envd").write_text("def h():\n    run(commands=['x'])\n")
    (tmp_path / "build.envd").write_text('load("lib.envd", "h")\ndef build():\n    h()\n')
    plan = load_plan(tmp_path / "build.envd")
    assert sorted(plan.sources) == sorted([f"{tmp_path}/build.envd", f"{tmp_path}/lib.envd"])
    assert plan.steps[0].position == Position(f"{tmp_path}/lib.envd", 2, 5)


def test_missing_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(EnvtrackError) as caught:
        load_plan(tmp_path / "nope.envd")
    assert caught.value.exit_code == 2


def test_each_evaluation_is_independent(tmp_path: Path) -> None:
    (tmp_path / "build.envd").write_text("def build():\n    shell()\n")
    assert load_plan(tmp_path).steps == load_plan(tmp_path).steps


def test_steps_in_recursion_free_loops_keep_call_site(tmp_path: Path) -> None:
    (tmp_path / "build.envd").write_text("def build():\n    for n in range(3):\n        run(commands=[str(n)])\n")
    steps = load_plan(tmp_path).steps
    assert [s.args["commands"] for s in steps] == [["0"], ["1"], ["2"]]
    assert {s.position.line for s in steps} == {3}


def test_error_in_helper_names_the_helper_line(tmp_path: Path) -> None:
    (tmp_path / "build.envd").write_text('def helper():\n    base(dev="no")\n\ndef build():\n    helper()\n')
    with pytest.raises(LocatedError) as caught:
        load_plan(tmp_path)
    assert caught.value.position.line == 2 and caught.value.exit_code == 2
