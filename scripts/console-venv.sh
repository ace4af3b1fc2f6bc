#!/usr/bin/env bash
# Makes (once) the Python venv of the console's and API's checks: schemathesis (the OpenAPI document
# against a live controller) and Selenium (the console in headless Chromium), both from PyPI, pinned.
#   scripts/console-venv.sh DIR   → DIR/bin/python imports schemathesis and selenium
set -euo pipefail
dir=${1:?usage: scripts/console-venv.sh DIR}
pins=(schemathesis==4.32.5 selenium==4.51.0)
if [ -x "$dir/bin/python" ] && "$dir/bin/python" - "${pins[@]}" <<'PY' 2>/dev/null; then exit 0; fi
import sys
from importlib.metadata import version
sys.exit(0 if all(version(p.split("==")[0]) == p.split("==")[1] for p in sys.argv[1:]) else 1)
PY
[ -x "$dir/bin/python" ] || python3 -m venv "$dir"
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}"
