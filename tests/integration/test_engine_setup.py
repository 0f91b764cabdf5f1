"""Engine setup is idempotent and doctor is all green on the real daemon."""

import json
import subprocess
import time

from envtrack.cli.engine import SETUP_SCRIPT
from conftest import run_cli


def test_setup_twice_then_doctor_all_green(docker_client):
    subprocess.run(["bash", str(SETUP_SCRIPT)], check=True, timeout=900)
    started = time.monotonic()
    second = subprocess.run(["bash", str(SETUP_SCRIPT)], capture_output=True, text=True, timeout=60)
    assert second.returncode == 0
    assert time.monotonic() - started < 5
    assert second.stderr == ""  # nothing to do, nothing said

    proc = run_cli("doctor", "--json")
    checks = json.loads(proc.stdout)
    failing = [c for c in checks if not c["ok"]]
    assert failing == [] and proc.returncode == 0
    names = {c["name"] for c in checks}
    assert {"engine", "buildkit", "base-image", "storage-driver", "disk", "ca-bundle", "proxy"} <= names
