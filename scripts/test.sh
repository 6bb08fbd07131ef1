#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine, then runs the whole suite on both stores
# (arguments, if any, go to one `swift test` instead).
# Unless SLIPWAY_TEST_POSTGRES is set (a postgres:// URL of a server to use), the PostgreSQL tests
# get a throwaway cluster from scripts/postgres.sh: SLIPWAY_TEST_POSTGRES is its URL and
# SLIPWAY_TEST_POSTGRES_DIR its directory (for `scripts/postgres.sh stop-server|start-server|restart
# DIR`); it is stopped and removed when this script exits, whether the tests pass or not.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
dpkg -s libsqlite3-dev >/dev/null 2>&1 || need+=(libsqlite3-dev)
# The TLS tests make a throwaway CA and server certificate.
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ -z "${SLIPWAY_TEST_POSTGRES:-}" ]; then
    { dpkg -s postgresql >/dev/null 2>&1 && [ -x /usr/lib/postgresql/15/bin/initdb ]; } || need+=(postgresql)
fi
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}"
    else
        echo "missing Debian packages: ${need[*]} (install them with apt-get as root)" >&2
        exit 1
    fi
fi

if [ -z "${SLIPWAY_TEST_POSTGRES:-}" ]; then
    SLIPWAY_TEST_POSTGRES_DIR=$(mktemp -d "${TMPDIR:-/tmp}/slipway-test-pg.XXXXXX")
    stop_postgres() {
        scripts/postgres.sh stop "$SLIPWAY_TEST_POSTGRES_DIR" || true
        # Left only if the start failed (postgres.sh then empties it).
        [ ! -d "$SLIPWAY_TEST_POSTGRES_DIR" ] || rmdir "$SLIPWAY_TEST_POSTGRES_DIR" 2>/dev/null || true
    }
    trap stop_postgres EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    SLIPWAY_TEST_POSTGRES=$(scripts/postgres.sh start "$SLIPWAY_TEST_POSTGRES_DIR")
    export SLIPWAY_TEST_POSTGRES SLIPWAY_TEST_POSTGRES_DIR
    echo "PostgreSQL for the tests: $SLIPWAY_TEST_POSTGRES ($SLIPWAY_TEST_POSTGRES_DIR)" >&2
fi

if [ $# -gt 0 ]; then
    swift test "$@"
    exit 0
fi
# Everything once (the storage suites and the replica tests on both stores, the HTTP and process
# suites on SQLite), then the HTTP and process suites again with PostgreSQL behind the server.
swift test
SLIPWAY_TEST_STORE=postgres swift test --skip-build --filter SlipwayServerTests --skip ReplicaTests
