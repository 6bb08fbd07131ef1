#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine, then runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
dpkg -s libsqlite3-dev >/dev/null 2>&1 || need+=(libsqlite3-dev)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}"
    else
        echo "missing Debian packages: ${need[*]} (install them with apt-get as root)" >&2
        exit 1
    fi
fi

swift test "$@"
