"""The CLI's outer surface: help, version, bad flags, unknown commands."""

from envtrack import __version__
from conftest import run_cli


def test_help_lists_the_main_commands():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for command in ("doctor", "engine", "plan", "build", "up", "sync", "snapshot", "diff"):
        assert command in proc.stdout


def test_version():
    proc = run_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"envtrack {__version__}"


def test_bad_flag_is_a_usage_error():
    proc = run_cli("doctor", "--no-such-flag")
    assert proc.returncode == 2
    assert "--no-such-flag" in proc.stderr


def test_unknown_command_is_a_usage_error():
    proc = run_cli("frobnicate")
    assert proc.returncode == 2
    assert "frobnicate" in proc.stderr
