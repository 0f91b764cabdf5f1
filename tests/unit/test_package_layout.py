"""The folder tree is the architecture: packages, and files within them, import downwards only.

Every `import` in envtrack (module level, inside functions, or under `if TYPE_CHECKING:`: a
lazy import is still a dependency, and a type-only one still couples the two files) is mapped
to the package it names, and the package graph must have no cycle; mapped to the file it names,
the file graph inside each package must have none either.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2] / "envtrack"


def unit_of(module: str) -> str:
    """`envtrack.llb.lower` -> `lower`; top-level modules (`envtrack.errors`) are their own unit."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "envtrack"


def is_module(name: str) -> bool:
    return (PACKAGE_ROOT / f"{name}.py").is_file() or (PACKAGE_ROOT / name).is_dir()


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            # `from envtrack.x import y` may name the module x.y rather than a name in x.
            found.update(f"{node.module}.{alias.name}" for alias in node.names
                         if is_module("/".join(node.module.split(".")[1:] + [alias.name])))
    return {m for m in found if m == "envtrack" or m.startswith("envtrack.")}


def module_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def file_graph() -> dict[str, set[str]]:
    """Module -> the envtrack modules it imports (a package's name stands for its __init__)."""
    paths = {module_of(path): path for path in PACKAGE_ROOT.rglob("*.py")}
    return {module: {m for m in imported_modules(path) if m in paths and m != module}
            for module, path in paths.items()}


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE_ROOT.rglob("*.py"):
        relative = path.relative_to(PACKAGE_ROOT.parent).with_suffix("")
        source = unit_of(".".join(relative.parts))
        if source == "__init__" or source == "__main__":
            continue
        targets = {unit_of(m) for m in imported_modules(path)} - {source, "envtrack"}
        graph.setdefault(source, set()).update(targets)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return visiting[visiting.index(node):] + [node]
        if node in done:
            return None
        visiting.append(node)
        for target in sorted(graph.get(node, ())):
            cycle = visit(target)
            if cycle:
                return cycle
        visiting.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        cycle = visit(node)
        if cycle:
            return cycle
    return None


def test_no_import_cycle_between_packages():
    cycle = find_cycle(package_graph())
    assert cycle is None, "package import cycle: " + " -> ".join(cycle)


def test_no_import_cycle_between_files():
    """Within a package, too, every file imports only files below it (an __init__ that
    re-exports is the top of its package, so a file importing its own package's __init__
    closes a circle)."""
    cycle = find_cycle(file_graph())
    assert cycle is None, "file import cycle: " + " -> ".join(cycle)


def test_the_file_graph_sees_function_level_and_type_only_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from envtrack.state import vertex\n"
                      "def f():\n    from envtrack.frontend.steps import Step\n")
    assert imported_modules(source) == {"envtrack.state", "envtrack.state.vertex", "envtrack.frontend.steps"}


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_pure_core_does_no_io():
    """state/ is BuildKit's client/llb: it may use the wire types and errors, nothing else."""
    graph = package_graph()
    assert graph["state"] <= {"pb", "errors"}, graph["state"]
    assert graph["pb"] == set()


def test_what_ships_into_containers_imports_only_what_ships():
    """The agent runs on the container's own python: it must not reach host-side packages."""
    graph = package_graph()
    shipped = {"agent", "journal", "records"}
    assert graph["agent"] <= shipped, graph["agent"]
