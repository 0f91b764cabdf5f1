"""The wheel the integration tests run from carries everything envtrack needs at runtime.

A file missing from the package data (the engine setup script, a module the agent bundle
ships) would fail a user who installed envtrack with pip; it fails here first.
"""

from __future__ import annotations

import subprocess

from conftest import installed_envtrack, run_cli
from envtrack.container.bundle import shipped_files


def installed_package_dir():
    python = installed_envtrack() / "bin" / "python"
    out = subprocess.run([str(python), "-c", "import envtrack, os; print(os.path.dirname(envtrack.__file__))"],
                         capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"}, cwd="/")
    return out.stdout.strip()


def test_the_wheel_carries_the_setup_script_and_every_shipped_module() -> None:
    from pathlib import Path

    package = Path(installed_package_dir())
    assert "site-packages" in str(package)   # not the checkout
    assert (package / "engine" / "setup-engine.sh").is_file()
    missing = [str(p) for p in shipped_files() if not (package / p).is_file()]
    assert not missing, missing


def test_the_installed_cli_offers_every_base() -> None:
    help_text = run_cli("engine", "setup", "--help", check=True).stdout
    for suite in ("bullseye", "bookworm", "trixie", "bookworm-nopython"):
        assert suite in help_text
