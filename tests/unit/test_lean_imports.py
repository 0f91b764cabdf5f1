"""`exec` and `log` run beside `docker exec` many times an hour: the modules on their path
must not load what costs start-up time (bench/cli.py measures the time; this keeps the cause out)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("dataclasses", "typing", "inspect", "sqlite3", "threading", "docker", "grpc", "google.protobuf",
         "hashlib",   # hashlib loads OpenSSL (~5-8 ms): only a new project identity needs it
         "socket", "selectors")   # socket.py's enums and selectors (~3 ms): a Unix socket dials with _socket
EXEC_PATH = ("envtrack.cli", "envtrack.cli.dispatch", "envtrack.cli.env", "envtrack.project",
             "envtrack.container.health", "envtrack.container.recording", "envtrack.container.engine",
             "envtrack.container.state",
             "envtrack.container.run", "envtrack.container.session", "envtrack.engine.api", "envtrack.dial", "envtrack.endpoints",
             "envtrack.journal.schema")   # open_project reads the journal's version on every exec


def loaded_after_importing(modules: tuple[str, ...]) -> set[str]:
    code = "import json, sys\n" + "".join(f"import {name}\n" for name in modules) + \
        "print(json.dumps(sorted(sys.modules)))"
    # -S: without site's .pth hooks, whatever is loaded was loaded by envtrack (found in ROOT).
    out = subprocess.run([sys.executable, "-S", "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    return set(json.loads(out))


@pytest.mark.parametrize("heavy", HEAVY)
def test_the_exec_path_loads_no_costly_module(heavy: str) -> None:
    assert heavy not in loaded_after_importing(EXEC_PATH)


def test_the_check_sees_a_costly_import() -> None:
    assert "dataclasses" in loaded_after_importing(("envtrack.container.spec",))


# A cached build answers from its stamp (envtrack/solve/stamp.py): what it imports is its start-up.
BUILD_PATH = ("envtrack.cli", "envtrack.cli.dispatch", "envtrack.cli.build", "envtrack.solve.service",
              "envtrack.project", "envtrack.journal.schema")


@pytest.mark.parametrize("heavy", ("typing", "platform", "envtrack.frontend.steps", "envtrack.builtins", "grpc",
                                   "google.protobuf", "docker", "libcst", "envtrack.llb.compile"))
def test_the_cached_build_path_loads_no_costly_module(heavy: str) -> None:
    assert heavy not in loaded_after_importing(BUILD_PATH)
