#!/usr/bin/env bash
# The API contract, fuzzed: schemathesis (Tests/contract/contract_test.py) against a real slipwayd from
# the debug binary that `swift build` (or `swift test`) left in .build/debug, with our own document
# (every check) and the upstream Omnistrate contract in ../shared/reference (no server error, answers
# as its schemas say). Installs python3-venv if missing (as root) and a pinned schemathesis from PyPI
# into a virtualenv under .build/. Bounded and seeded: SLIPWAY_CONTRACT_EXAMPLES (examples per
# operation, default 25), SLIPWAY_CONTRACT_SECONDS (time budget of the run with our document, default
# 150; the upstream run gets 40%),
# SLIPWAY_CONTRACT_SEED.
set -euo pipefail
cd "$(dirname "$0")/.."

schemathesis_version=4.32.5

need=()
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || need+=(python3-venv)
scripts/apt-install.sh ${need[@]+"${need[@]}"}

venv=.build/schemathesis-venv
if [ "$("$venv/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $schemathesis_version" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
fi
# The current binary (nothing to do right after `swift test`).
swift build --product slipwayd >&2
"$venv/bin/python" Tests/contract/contract_test.py --bin .build/debug "$@"
