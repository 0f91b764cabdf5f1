"""The source rewrite: what it produces and how reported columns map back."""

from __future__ import annotations

import pytest

from envtrack.errors import LocatedError, Position
from envtrack.frontend.transform import (
    Edit,
    TokenizeError,
    Transformed,
    module_prefix,
    resolve_module,
    transform,
)


def test_namespace_call_keeps_length_and_gets_site_id() -> None:
    result = transform('install.apt_packages(name=["jq"])\n', "b.envd")
    assert result.source == 'install_apt_packages(1, name=["jq"])\n'
    assert result.sites[1].kind == "install.apt_packages"
    assert (result.sites[1].line, result.sites[1].column) == (1, 1)


def test_empty_call_gets_bare_id() -> None:
    assert transform("def build():\n    base()\n", "b").source == "def build():\n    base(1)\n"


def test_site_ids_continue_from_first_id() -> None:
    result = transform("run(commands=[])\nshell()\n", "b", first_site_id=40)
    assert sorted(result.sites) == [40, 41]
    assert "run(40, " in result.source and "shell(41)" in result.source


def test_columns_after_insertions_map_back() -> None:
    text = '    run(commands=["a"]); x = 1 + "c"\n'
    result = transform(text, "b")
    rewritten_line = result.source.splitlines()[0]
    plus_rewritten = rewritten_line.index("+") + 1
    plus_original = text.index("+") + 1
    assert plus_rewritten != plus_original
    assert result.original_column(1, plus_rewritten) == plus_original


def test_every_original_column_survives_round_trip() -> None:
    text = 'run(commands=[]); base(image="x"); install.python(); y = 1\n'
    result = transform(text, "b")
    rewritten = result.source.splitlines()[0]
    # Each original character outside an edit is found again at a column that maps back to it.
    for col, char in enumerate(text.rstrip("\n"), 1):
        if char in "_.":
            continue
        new_col = _rewritten_column(result, 1, col)
        assert rewritten[new_col - 1] == char
        assert result.original_column(1, new_col) == col


def _rewritten_column(result: Transformed, line: int, column: int) -> int:
    shift = 0
    for edit in result.edits.get(line, ()):
        if edit.start >= column - 1 and edit.start != edit.end:
            break
        if edit.start > column - 1:
            break
        shift += len(edit.text) - (edit.end - edit.start)
    return column + shift


def test_column_inside_inserted_text_points_at_the_edit() -> None:
    result = Transformed("b", "", {}, (), {}, {1: (Edit(1, 4, 4, "17, "),)})
    assert result.original_column(1, 6) == 5
    assert result.original_column(1, 9) == 5
    assert result.original_column(1, 3) == 3
    assert result.position(1, 10) == Position("b", 1, 6)


def test_lines_without_edits_are_unchanged() -> None:
    result = transform("x = 1\nrun(commands=[])\ny = 2\n", "b")
    assert result.original_column(3, 5) == 5
    assert result.source.splitlines()[2] == "y = 2"


def test_unknown_member_call_fails_only_when_it_runs() -> None:
    # As in envd, a member lookup fails when evaluated: the rewrite keeps the error for the call.
    rewritten = transform("def build():\n    install.nope()\n", "b.envd")
    assert "unknown function install.nope" in rewritten.unknown["install_nope"]
    assert [(s.kind, s.line, s.column) for s in rewritten.sites.values()] == [("install.nope", 2, 5)]


def test_unknown_member_not_called_is_located() -> None:
    with pytest.raises(LocatedError) as caught:
        transform("def build():\n    f = install.nope\n", "b.envd")
    assert caught.value.position == Position("b.envd", 2, 9)
    assert "unknown function install.nope" in caught.value.reason


def test_builtin_used_as_value_is_located() -> None:
    with pytest.raises(LocatedError) as caught:
        transform("def build():\n    f = run\n", "b.envd")
    assert caught.value.position == Position("b.envd", 2, 9)


def test_attribute_and_keyword_names_are_not_builtins() -> None:
    text = 'def build():\n    x = d.run\n    helper(base="a", run=1)\n'
    result = transform(text, "b")
    assert result.sites == {} and result.source == text


def test_names_rebound_in_one_function_only() -> None:
    text = "def f(base):\n    return base\n\ndef build():\n    base()\n"
    result = transform(text, "b")
    assert [s.kind for s in result.sites.values()] == ["base"]
    assert result.sites[1].line == 5


def test_file_level_rebinding_shadows_everywhere() -> None:
    text = "run = print\n\ndef build():\n    run('x')\n"
    assert transform(text, "b").sites == {}


def test_load_becomes_assignments_on_the_same_lines() -> None:
    text = 'load(\n    "lib/h.envd",\n    "a",\n    b = "c",\n)\nx = 1\n'
    result = transform(text, "dir/build.envd")
    (load,) = result.loads
    assert load.path == "dir/lib/h.envd" and load.module == "lib/h.envd"
    assert [(b.local, b.symbol) for b in load.bindings] == [("a", "a"), ("b", "c")]
    prefix = module_prefix("dir/lib/h.envd")
    lines = result.source.split("\n")
    assert lines[0] == f"a = {prefix}a; b = {prefix}c"
    assert lines[1:5] == ["", "", "", ""]
    assert lines[5] == "x = 1"


def test_load_binding_positions() -> None:
    (load,) = transform('load("m.envd", "a", z="b")\n', "f").loads
    assert [(b.line, b.column) for b in load.bindings] == [(1, 16), (1, 21)]
    assert (load.line, load.column) == (1, 1)


def test_resolve_module_is_relative_to_the_loading_file() -> None:
    assert resolve_module("a/b/build.envd", "../lib/x.envd") == "a/lib/x.envd"
    assert resolve_module("build.envd", "./x.envd") == "x.envd"


def test_untokenizable_text_raises_tokenize_error() -> None:
    with pytest.raises(TokenizeError):
        transform('def build():\n    run(commands=["a"\n', "b")


def test_top_level_functions_are_recorded() -> None:
    result = transform("def build():\n    pass\n\ndef gpu():\n    pass\n", "b")
    assert result.functions == {"build": (1, 5), "gpu": (4, 5)}


def test_a_name_bound_by_load_is_not_the_builtin() -> None:
    result = transform('load("lib.envd", run="helper")\n\ndef build():\n    run(["x"])\n', "b.envd")
    assert result.source.splitlines()[3] == '    run(["x"])'
    assert result.sites == {}


@pytest.mark.parametrize(
    "statement",
    ["for run, n in pairs:\n        x = run", "base, x = 1, 2\n    y = base", "x, base = 1, 2\n    y = base", "y = [run for n, run in pairs]"],
)
def test_names_bound_by_tuple_targets_are_not_builtins(statement: str) -> None:
    source = f"def build(pairs=[]):\n    {statement}\n"
    assert transform(source, "b.envd").source == source
