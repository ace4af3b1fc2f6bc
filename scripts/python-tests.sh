#!/usr/bin/env bash
# Runs the `ringmaster` Python package's pytest suite against a build (make test calls it):
#   scripts/python-tests.sh BUILD_DIR      (e.g. .build/debug: libRingmasterC.so, ringmaster, ringmaster-fixture)
# Uses the torch venv (scripts/torch-venv.sh); where no torch wheel exists, a plain venv runs the
# standard-library core and the torch tests skip, saying so. Each test is named as it runs (-v), a test
# still running after 300 s prints every thread's traceback (faulthandler), and the ten slowest are listed:
# when make test's bound (15 min; ~3–4 idle) cuts a run off, the log says where it was.
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(cd "${1:?usage: scripts/python-tests.sh BUILD_DIR}" && pwd)
venv=${RINGMASTER_TORCH_VENV:-/var/tmp/ringmaster-torch-venv}
rc=0
scripts/torch-venv.sh "$venv" || rc=$?
if [ "$rc" = 3 ]; then
  venv=/var/tmp/ringmaster-python-venv
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
elif [ "$rc" != 0 ]; then
  exit "$rc"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check pytest
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps ./python
cd python
RINGMASTER_LIBRARY="$build/libRingmasterC.so" RINGMASTER_BIN="$build/ringmaster" \
  exec "$venv/bin/python" -m pytest -v -rs -o faulthandler_timeout=300 --durations=10 tests
