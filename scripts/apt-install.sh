#!/usr/bin/env bash
# Installs the Debian packages named, after `apt-get update`, when run as root; otherwise names what is
# missing and fails. Nothing to do without arguments.
set -euo pipefail
[ $# -gt 0 ] || exit 0
if [ "$(id -u)" = 0 ]; then
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
else
    echo "missing Debian packages: $* (install them with apt-get as root)" >&2
    exit 1
fi
