#!/usr/bin/env bash
# Everything a new user needs on a fresh Debian machine (12 or 13, as root):
# envtrack itself with its test extras, then the engine (docker.io, dockerd, the base image).
# Safe to rerun: both steps find their work done.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'envtrack setup: %s\n' "$*" >&2; }
apt_install() {
    say "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2
}

PY=${PYTHON:-python3}
command -v "$PY" >/dev/null 2>&1 || apt_install python3 python3-pip
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { say "error: envtrack needs Python >= 3.11 ($PY is $("$PY" --version 2>&1))"; exit 1; }
"$PY" -m pip --version >/dev/null 2>&1 || apt_install python3-pip
# The integration tests install envtrack into a fresh venv, as a user would.
"$PY" -c 'import ensurepip, venv' >/dev/null 2>&1 || apt_install python3-venv

say "installing envtrack and its test tools with pip"
pip_install() { "$PY" -m pip install -q --disable-pip-version-check --root-user-action=ignore "$@" -e '.[test]'; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! pip_install 2>"$log"; then
    # Debian's own Python refuses pip installs (PEP 668) unless told otherwise; nothing else is retried.
    if grep -q externally-managed-environment "$log"; then
        pip_install --break-system-packages
    else
        cat "$log" >&2
        say "error: pip install failed"
        exit 1
    fi
fi

# The dev-environment tests log in over SSH and forward an agent (tests/integration/test_dev_ssh.py).
command -v ssh-agent >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 || apt_install openssh-client

# Every base the integration tests record on: Python 3.9, 3.11, 3.13 and none.
bash scripts/setup-engine.sh --base bookworm --base bullseye --base trixie --base bookworm-nopython
