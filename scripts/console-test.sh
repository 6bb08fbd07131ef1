#!/usr/bin/env bash
# The web console in headless Chromium (Tests/console/console_test.py) against a real slipwayd and
# real agents, from the debug binaries that `swift build` (or `swift test`) left in .build/debug.
# Installs Debian's chromium and chromium-driver if missing (as root), and selenium from PyPI into a
# virtualenv under .build/. Screenshots of each page go to $SLIPWAY_SCREENSHOTS (default
# .build/console-screenshots).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || need+=(python3-venv)
scripts/apt-install.sh ${need[@]+"${need[@]}"}

venv=.build/console-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import selenium" >/dev/null 2>&1; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "selenium>=4.20,<5"
fi
# Current binaries (nothing to do right after `swift test`).
swift build --product slipwayd >&2
swift build --product slipway-agent >&2
# Selenium must use the chromedriver found here, never download one.
SE_OFFLINE=true "$venv/bin/python" Tests/console/console_test.py --bin .build/debug --screenshots "${SLIPWAY_SCREENSHOTS:-.build/console-screenshots}"
