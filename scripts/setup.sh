#!/usr/bin/env bash
# Everything a new user needs on a fresh Debian machine (as root): envtrack itself, then the engine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || { apt-get update -q && apt-get install -y -q python3 python3-pip python3-venv; }
if ! "$PY" -m pip --version >/dev/null 2>&1; then
    apt-get update -q && apt-get install -y -q python3-pip
fi
pip_install() { "$PY" -m pip install -q --disable-pip-version-check "$@"; }
pip_install -e '.[test]' 2>/dev/null || pip_install --break-system-packages -e '.[test]'
bash scripts/setup-engine.sh
