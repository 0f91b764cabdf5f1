#!/usr/bin/env bash
# The whole test suite, unit and integration, against the real engine (set up first).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "envtrack: setup failed; the integration tests need the engine" >&2; exit 1; }
"${PYTHON:-python3}" -m pytest -q -p no:cacheprovider "$@"
status=$?
# pytest exits 5 when it collected nothing: that is a failure here, never a pass.
[ "$status" = 5 ] && { echo "no tests ran" >&2; exit 1; }
exit "$status"
