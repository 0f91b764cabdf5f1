"""What ships into containers: decided by package structure, standard library only, 3.8 grammar.

The agent runs on whatever python3 the container has (3.8 to 3.13), so every shipped file
must parse under the 3.8 grammar and import nothing but the standard library and other
shipped envtrack modules. A host-side import or a third-party one fails here, not in a user's
container.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from envtrack.agent import SHIPPED
from envtrack.container.bundle import PACKAGE_DIR, STUB_INIT, prepare_bundle, shipped_files

SHIPPED_FILES = shipped_files()


def module_name(relative: Path) -> str:
    parts = ("envtrack",) + relative.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


SHIPPED_MODULES = {"envtrack"} | {module_name(p) for p in SHIPPED_FILES}


def imports(tree: ast.AST) -> set[str]:
    """Every module an import names, at module level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative imports would hide what a module depends on"
            found.add(node.module or "")
            found.update(f"{node.module}.{alias.name}" for alias in node.names
                         if f"{node.module}.{alias.name}" in SHIPPED_MODULES)
    return found


def test_the_shipped_set_is_whole_packages() -> None:
    assert {p.parts[0] for p in SHIPPED_FILES} == set(SHIPPED)
    assert all((PACKAGE_DIR / name / "__init__.py").is_file() for name in SHIPPED)
    assert Path("agent/run.py") in SHIPPED_FILES and Path("journal/db.py") in SHIPPED_FILES
    assert {Path("records/dpkg.py"), Path("records/dist_info.py"), Path("records/conda_meta.py"),
            Path("records/redact.py"), Path("records/changes.py")} <= set(SHIPPED_FILES)


@pytest.mark.parametrize("relative", SHIPPED_FILES, ids=str)
def test_shipped_file_parses_under_the_python_3_8_grammar(relative: Path) -> None:
    ast.parse((PACKAGE_DIR / relative).read_text(encoding="utf-8"), str(relative), feature_version=(3, 8))


def test_the_bundle_stub_parses_under_the_python_3_8_grammar() -> None:
    ast.parse(STUB_INIT, "envtrack/__init__.py", feature_version=(3, 8))


@pytest.mark.parametrize("relative", SHIPPED_FILES, ids=str)
def test_shipped_file_imports_only_the_standard_library_and_shipped_modules(relative: Path) -> None:
    tree = ast.parse((PACKAGE_DIR / relative).read_text(encoding="utf-8"))
    for name in sorted(imports(tree)):
        top = name.split(".")[0]
        if top == "envtrack":
            assert name in SHIPPED_MODULES, f"{relative} imports host-side {name}"
        else:
            assert top in sys.stdlib_module_names or top == "__future__", f"{relative} imports non-stdlib {name}"


def test_the_prepared_bundle_imports_without_site_packages(tmp_path: Path) -> None:
    bundle = prepare_bundle(tmp_path / "bundle")
    files = {p.relative_to(bundle / "envtrack") for p in (bundle / "envtrack").rglob("*.py")}
    assert files == set(SHIPPED_FILES) | {Path("__init__.py")}
    assert [p.name for p in bundle.iterdir()] == ["envtrack"]
    # -S: no site-packages; -E: no PYTHONPATH. Only the bundle and the standard library.
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            + "; ".join(f"import {m}" for m in sorted(SHIPPED_MODULES - {"envtrack.agent.__main__"})))
    result = subprocess.run([sys.executable, "-S", "-E", "-c", code, str(bundle)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_a_bundle_update_removes_what_no_longer_ships(tmp_path: Path) -> None:
    stale = tmp_path / "bundle" / "watchdog" / "__init__.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("")
    (tmp_path / "bundle" / "envtrack").mkdir()
    (tmp_path / "bundle" / "envtrack" / "old.py").write_text("")
    prepare_bundle(tmp_path / "bundle")
    assert not stale.parent.exists() and not (tmp_path / "bundle" / "envtrack" / "old.py").exists()


def other_interpreters() -> list[str]:
    """One interpreter per Python 3.8 ... 3.13 found on this machine (on PATH or pyenv's); where none is,
    the test runs on the interpreter running pytest. The 3.8 grammar test above holds everywhere."""
    import shutil as which

    found = []
    for minor in range(8, 14):
        path = which.which(f"python3.{minor}")
        for candidate in ([path] if path else []) + [str(p) for p in
                                                      Path.home().glob(f".pyenv/versions/3.{minor}.*/bin/python3")]:
            if subprocess.run([candidate, "-c", "1"], capture_output=True).returncode == 0:
                found.append(candidate)
                break
    return found


# On the bundle alone (-S -E: no site-packages): a baseline, a reconcile, and a live inotify event.
AGENT_SMOKE = r"""
import os, sys, tempfile, threading
sys.path.insert(0, sys.argv[1])
from envtrack.agent import run
from envtrack.agent.inotify import Inotify
from envtrack.journal.db import open_journal, read_changes

root = tempfile.mkdtemp()
site = os.path.join(root, "usr/lib/python3/dist-packages")
os.makedirs(os.path.join(root, "var/lib/dpkg"))
os.makedirs(site)
open(os.path.join(root, "var/lib/dpkg/status"), "w").write(
    "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2\n")
state = os.path.join(root, "state")
assert run.Agent(state, root).start() == 0
heard = threading.Event()
watcher = Inotify(lambda path, name, is_dir: heard.set() if name == "tomli-2.0.1.dist-info" else None)
watcher.add(site)
info = os.path.join(site, "tomli-2.0.1.dist-info")
os.makedirs(info)
for name, text in (("METADATA", "Metadata-Version: 2.1\nName: tomli\nVersion: 2.0.1\n"), ("INSTALLER", "pip\n"),
                   ("REQUESTED", ""), ("RECORD", "tomli-2.0.1.dist-info/INSTALLER,,\n")):
    open(os.path.join(info, name), "w").write(text)
assert heard.wait(5), "no inotify event"
watcher.stop()
assert run.Agent(state, root).start() == 1
rows = read_changes(open_journal(os.path.join(state, "journal.db")))
assert [(r.name, r.action, r.requested) for r in rows] == [("tomli", "install", True)], rows
print("ok %d.%d" % sys.version_info[:2])
"""


@pytest.mark.parametrize("python", other_interpreters() or [sys.executable])
def test_the_bundle_records_on_other_pythons(tmp_path: Path, python: str) -> None:
    bundle = prepare_bundle(tmp_path / "bundle")
    result = subprocess.run([python, "-S", "-E", "-c", AGENT_SMOKE, str(bundle)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("ok "), result.stderr
