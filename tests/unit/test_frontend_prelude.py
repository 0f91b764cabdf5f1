"""Arguments are measured in Starlark before Python sees them (frontend/prelude.py, issue 28):
a huge or unconvertible value ends fast in one line naming the call, the parameter and its kind."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from envtrack.builtins import ARGV_LIST, BOOL, BUILTINS, INT, STR, STR_DICT, STR_LIST
from envtrack.errors import LocatedError
from envtrack.frontend.bounded import Limits, evaluate_bounded
from envtrack.frontend.values import MAX_ITEMS

VALID = {STR: '"x"', BOOL: "False", INT: "1", STR_LIST: '["x"]', STR_DICT: '{"a": "b"}', ARGV_LIST: '[["x"]]'}
INTERNALS = ("Starlark", "convert", "Python", "_envtrack", "Unconvertible")


def plan_error(tmp_path: Path, body: str, limits: Limits | None = None) -> LocatedError:
    envd = tmp_path / "build.envd"
    envd.write_text("def build():\n" + "".join(f"    {line}\n" for line in body.split("\n")))
    with pytest.raises(LocatedError) as caught:
        evaluate_bounded(str(envd), "build", limits)
    return caught.value


def test_a_huge_range_fails_fast_and_small(tmp_path: Path) -> None:
    # Converting the range took 8 s and 1 GB: with 64 MiB it would end in the memory message instead.
    start = time.monotonic()
    error = plan_error(tmp_path, "base(image=range(1000000000))", Limits(memory_mb=64))
    assert time.monotonic() - start < 2
    assert str(error) == f"{tmp_path}/build.envd:2:5: base: for parameter 'image': got range, want string"


# One call for every builtin and parameter: the parameter gets a range, the others valid values.
CASES = [(kind, param.name) for kind, builtin in BUILTINS.items() for param in builtin.params]


def call(kind: str, bad: str, value: str) -> str:
    arguments = [f"{p.name}={value if p.name == bad else VALID[p.type]}" for p in BUILTINS[kind].params
                 if p.name == bad or p.required]
    return f"{kind}({', '.join(arguments)})"


def test_every_builtin_and_parameter_names_a_range_it_was_given(tmp_path: Path) -> None:
    for kind, name in CASES:
        param = next(p for p in BUILTINS[kind].params if p.name == name)
        error = plan_error(tmp_path, call(kind, name, "range(1000000000)"))
        assert error.reason == f"{kind}: for parameter {name!r}: got range, want {param.type}", kind
        assert (error.position.line, error.position.column) == (2, 5)


@pytest.mark.parametrize("value, kind", [
    ("lambda x: x", "function"), ("set([1])", "set"), ("len", "builtin_function_or_method"),
    ('"x" * 20000000', "string of 20000000 characters (at most 16777216)"),
    (f"list(range({MAX_ITEMS + 1}))", f"list of more than {MAX_ITEMS} items"),
    (f'["x"] * {MAX_ITEMS + 1}', f"list of more than {MAX_ITEMS} items"),
    ('["a" * 10000000, "b" * 10000000]', "list holding more than 16777216 characters"),
    ('["x", range(3), lambda: 1]', "list containing function, range"),
    ('[["x", range(3)]]', "list containing list containing range"),
    ("(range(3),)", "tuple containing range"),
    ("{1: len}", "dict with non-string items"),
    ("1 << 70", "int beyond 64 bits"),
])
def test_values_python_does_not_get_are_named_by_kind(tmp_path: Path, value: str, kind: str) -> None:
    error = plan_error(tmp_path, f"run(commands={value})")
    assert error.reason == f"run: for parameter 'commands': got {kind}, want list of strings"
    assert not any(word in error.reason for word in INTERNALS)


def test_positional_and_into_and_state_arguments(tmp_path: Path) -> None:
    assert plan_error(tmp_path, 'run(["true"], range(5))').reason == "run: for parameter 'mount_host': got range, want bool"
    assert plan_error(tmp_path, 'run(["a"], into=range(5))').reason.startswith("run: into: a range is not a state")
    assert plan_error(tmp_path, "x = scratch(name=range(5))").reason == "scratch: name must be a string, got range"
    assert plan_error(tmp_path, "merge(states=range(5))").reason == "merge: states must be a list of states, got a range"
    assert plan_error(tmp_path, "image(ref=lambda: 1)").reason.startswith("image: ref must be an image reference")


def test_an_unknown_keyword_with_a_huge_value_is_still_the_unknown_keyword(tmp_path: Path) -> None:
    assert plan_error(tmp_path, "base(imag=range(1000000000))").reason.startswith("base: unexpected keyword argument 'imag'")


def test_an_unknown_member_ignores_its_arguments(tmp_path: Path) -> None:
    error = plan_error(tmp_path, "install.cudaa(range(1000000000), x=lambda: 1)")
    assert error.reason == "unknown function install.cudaa (did you mean install.cuda?)"


def test_what_build_returns_is_measured_too(tmp_path: Path) -> None:
    error = plan_error(tmp_path, "return range(1000000000)")
    assert error.reason.startswith("build() returned: a range is not a state")


def test_a_huge_fail_message_is_cut_in_starlark_once(tmp_path: Path) -> None:
    error = plan_error(tmp_path, 'fail("x" * 10000000)')
    assert error.reason == "fail: " + "x" * 2000 + "... (10000000 characters in all)"


def test_a_module_global_that_is_huge_is_not_converted_when_hidden(tmp_path: Path) -> None:
    (tmp_path / "lib.envd").write_text("BIG = list(range(3000000))\ndef f():\n    run(commands=['a'])\n")
    (tmp_path / "build.envd").write_text('load("lib.envd", "f")\ndef build():\n    f()\n')
    start = time.monotonic()
    plan = evaluate_bounded(str(tmp_path / "build.envd"), "build", Limits(memory_mb=256))
    assert [step.kind for step in plan.steps] == ["run"] and time.monotonic() - start < 5
