#!/usr/bin/env bash
# Same as `envtrack engine setup`; usable before envtrack is installed.
exec bash "$(dirname "$0")/../envtrack/engine/setup-engine.sh" "$@"
