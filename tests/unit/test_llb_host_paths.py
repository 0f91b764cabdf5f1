"""Every builtin's host inputs (envtrack.builtins: host_inputs) are checked the same way: an
empty path is an error at the call, never a crash in lowering (issue 28)."""

from __future__ import annotations

import pytest

from envtrack.builtins import BUILTINS
from envtrack.errors import LocatedError, Position
from envtrack.frontend.steps import Plan, Step
from envtrack.llb.compile import compile_plan


def compile_calls(*calls: tuple[str, dict]):
    steps = [Step("base", {"image": "envtrack/base:bookworm", "dev": False}, Position("build.envd", 1, 5))]
    steps += [Step(kind, args, Position("build.envd", line, 5)) for line, (kind, args) in enumerate(calls, 2)]
    return compile_plan(Plan(file="build.envd", target="build", steps=tuple(steps)))


def defaults(kind: str) -> dict:
    return {p.name: p.default for p in BUILTINS[kind].params if not p.required}


@pytest.mark.parametrize("kind, args", [
    ("config.ca_certificates", {"path": ""}),
    ("io.copy", {"host_path": "", "envd_path": "/workspace/src", "image": ""}),
    ("install.python_packages", {"name": [], "requirements": "", "local_wheels": [""]}),
])
def test_an_empty_host_path_is_a_located_error(kind: str, args: dict) -> None:
    with pytest.raises(LocatedError) as caught:
        compile_calls(("install.python", {"version": "3.11"}), (kind, {**defaults(kind), **args}))
    assert str(caught.value).startswith(f"build.envd:3:5: {kind}: empty path")


def test_every_builtin_with_host_inputs_refuses_an_empty_one() -> None:
    """The check reads the registry, so a builtin that gains a host input is covered too."""
    for kind, builtin in BUILTINS.items():
        for host_input in builtin.host_inputs:
            param = next(p for p in builtin.params if p.name == host_input.param)
            if not param.required and param.default == "":
                continue   # "" is the default: no file
            empty = [""] if isinstance(param.default, list) else ""
            args = {**defaults(kind), **{p.name: "/x" for p in builtin.params if p.required}, param.name: empty}
            with pytest.raises(LocatedError, match="empty path"):
                compile_calls(("install.python", {"version": "3.11"}), (kind, args))


def test_an_empty_optional_path_is_no_file() -> None:
    compile_calls(("install.python", {"version": "3.11"}),
                  ("install.python_packages", {"name": ["six"], "requirements": "", "local_wheels": []}))
