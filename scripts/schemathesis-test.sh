#!/usr/bin/env bash
# Checks the API's OpenAPI document (Sources/Controller/Resources/openapi.json, served at /v1/openapi.json)
# against a live controller with schemathesis (make test calls it): no 5xx, no status or response the
# document does not describe.
#   scripts/schemathesis-test.sh BUILD_DIR [MAX_EXAMPLES]     (e.g. .build/debug)
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(cd "${1:?usage: scripts/schemathesis-test.sh BUILD_DIR [MAX_EXAMPLES]}" && pwd)
venv=${RINGMASTER_CONSOLE_VENV:-/var/tmp/ringmaster-console-venv}
scripts/console-venv.sh "$venv"
exec "$venv/bin/python" scripts/schemathesis_run.py "$build" "${2:-60}"
