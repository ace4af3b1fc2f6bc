#!/usr/bin/env bash
# The console in headless Chromium (make test calls it): Debian's chromium and chromium-driver (make deps
# installs them), Selenium from PyPI; the demo job with a node killed; screenshots in SCREENSHOT_DIR.
#   scripts/console-test.sh BUILD_DIR [SCREENSHOT_DIR] [PRESET [STEPS]]
# (defaults: /tmp/ringmaster-console-screenshots; the trainer's `micro` model for 600 steps — a debug
# build's speed; `tiny` 200 is the demo's own, for a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(cd "${1:?usage: scripts/console-test.sh BUILD_DIR [SCREENSHOT_DIR] [PRESET [STEPS]]}" && pwd)
shots=${2:-/tmp/ringmaster-console-screenshots}
venv=${RINGMASTER_CONSOLE_VENV:-/var/tmp/ringmaster-console-venv}
for tool in chromium chromedriver; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (make deps installs Debian's chromium and chromium-driver)"; exit 1; }
done
scripts/console-venv.sh "$venv"
exec "$venv/bin/python" scripts/console_browser_test.py "$build" "$shots" "${@:3}"
