#!/usr/bin/env bash
# The whole test suite, unit and integration, against the real engine (set up first).
# Extra arguments go to pytest. Fails when nothing ran or anything was skipped: the integration
# tests must drive the real engine, never be skipped around it.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

bash scripts/setup.sh || { echo "envtrack: setup failed; the integration tests need the engine" >&2; exit 1; }

report=$(mktemp)
trap 'rm -f "$report"' EXIT
"$PY" -m pytest -q -p no:cacheprovider --junitxml="$report" "$@"
status=$?
# pytest exits 5 when it collected nothing: that is a failure here, never a pass.
[ "$status" = 5 ] && { echo "envtrack: no tests ran" >&2; exit 1; }
[ "$status" = 0 ] || exit "$status"

skipped=$("$PY" - "$report" <<'EOF'
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
print(sum(int(suite.get("skipped", 0)) for suite in root.iter("testsuite")))
EOF
) || { echo "envtrack: cannot read pytest's report" >&2; exit 1; }
if [ "$skipped" != 0 ]; then
    echo "envtrack: $skipped test(s) were skipped; every test must run" >&2
    exit 1
fi
