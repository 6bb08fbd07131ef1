#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine, then runs the whole suite on both stores
# (arguments, if any, go to one `swift test` instead).
# Unless SLIPWAY_TEST_POSTGRES is set (a postgres:// URL of a server to use), the PostgreSQL tests
# get a throwaway cluster from scripts/postgres.sh: SLIPWAY_TEST_POSTGRES is its URL and
# SLIPWAY_TEST_POSTGRES_DIR its directory (for `scripts/postgres.sh stop-server|start-server|restart
# DIR`); it is stopped and removed when this script exits, whether the tests pass or not.
# The registry tests get three throwaway registries from scripts/registry.sh (plain HTTP on
# 127.0.0.1): SLIPWAY_TEST_REGISTRY (anonymous), SLIPWAY_TEST_REGISTRY_BASIC (htpasswd; user and
# password in SLIPWAY_TEST_REGISTRY_USER / SLIPWAY_TEST_REGISTRY_PASSWORD) and
# SLIPWAY_TEST_REGISTRY_TOKEN (Docker token auth through scripts/token-server.sh, same user), each
# host:port; they are stopped and removed on exit too. Set SLIPWAY_TEST_REGISTRY yourself to skip this.
# Last, scripts/console-test.sh drives the web console in headless Chromium, and scripts/contract-test.sh
# runs schemathesis against slipwayd with our OpenAPI document and the upstream one.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
dpkg -s libsqlite3-dev >/dev/null 2>&1 || need+=(libsqlite3-dev)
# The TLS tests make a throwaway CA and server certificate.
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ -z "${SLIPWAY_TEST_POSTGRES:-}" ]; then
    { dpkg -s postgresql >/dev/null 2>&1 && [ -x /usr/lib/postgresql/15/bin/initdb ]; } || need+=(postgresql)
fi
if [ -z "${SLIPWAY_TEST_REGISTRY:-}" ]; then
    # The registries: distribution 2.8, htpasswd (bcrypt) for basic auth, curl to see them answer,
    # python3 for the token service; skopeo to copy images in by hand.
    command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
    command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
    command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
    command -v curl >/dev/null 2>&1 || need+=(curl)
    command -v python3 >/dev/null 2>&1 || need+=(python3)
fi
scripts/apt-install.sh ${need[@]+"${need[@]}"}

# What was started, stopped on exit whether the tests pass or not.
registry_dirs=()
token_dir=
stop_registries() {
    local d
    for d in ${registry_dirs[@]+"${registry_dirs[@]}"}; do scripts/registry.sh stop "$d" || true; done
    [ -z "$token_dir" ] || scripts/token-server.sh stop "$token_dir" || true
}
stop_postgres() { :; }
trap 'stop_registries; stop_postgres' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "${SLIPWAY_TEST_POSTGRES:-}" ]; then
    SLIPWAY_TEST_POSTGRES_DIR=$(mktemp -d "${TMPDIR:-/tmp}/slipway-test-pg.XXXXXX")
    stop_postgres() {
        scripts/postgres.sh stop "$SLIPWAY_TEST_POSTGRES_DIR" || true
        # Left only if the start failed (postgres.sh then empties it).
        [ ! -d "$SLIPWAY_TEST_POSTGRES_DIR" ] || rmdir "$SLIPWAY_TEST_POSTGRES_DIR" 2>/dev/null || true
    }
    SLIPWAY_TEST_POSTGRES=$(scripts/postgres.sh start "$SLIPWAY_TEST_POSTGRES_DIR")
    export SLIPWAY_TEST_POSTGRES SLIPWAY_TEST_POSTGRES_DIR
    echo "PostgreSQL for the tests: $SLIPWAY_TEST_POSTGRES ($SLIPWAY_TEST_POSTGRES_DIR)" >&2
fi

if [ -z "${SLIPWAY_TEST_REGISTRY:-}" ]; then
    registry_dir() { mktemp -u "${TMPDIR:-/tmp}/slipway-test-registry-$1.XXXXXX"; }
    d=$(registry_dir anon); registry_dirs+=("$d")
    SLIPWAY_TEST_REGISTRY=$(scripts/registry.sh start "$d")
    SLIPWAY_TEST_REGISTRY_USER=slipway
    SLIPWAY_TEST_REGISTRY_PASSWORD=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
    d=$(registry_dir basic); registry_dirs+=("$d")
    SLIPWAY_TEST_REGISTRY_BASIC=$(scripts/registry.sh start "$d" --basic "$SLIPWAY_TEST_REGISTRY_USER" "$SLIPWAY_TEST_REGISTRY_PASSWORD")
    token_dir=$(registry_dir tokens)
    realm= issuer= rootcert=
    read -r realm issuer rootcert < <(scripts/token-server.sh start "$token_dir" "$SLIPWAY_TEST_REGISTRY_USER" "$SLIPWAY_TEST_REGISTRY_PASSWORD") || true
    [ -n "$rootcert" ] || { echo "the token service did not start" >&2; exit 1; }
    d=$(registry_dir token); registry_dirs+=("$d")
    SLIPWAY_TEST_REGISTRY_TOKEN=$(scripts/registry.sh start "$d" --token "$realm" "$issuer" "$rootcert")
    export SLIPWAY_TEST_REGISTRY SLIPWAY_TEST_REGISTRY_BASIC SLIPWAY_TEST_REGISTRY_TOKEN SLIPWAY_TEST_REGISTRY_USER SLIPWAY_TEST_REGISTRY_PASSWORD
    echo "registries for the tests: $SLIPWAY_TEST_REGISTRY (anonymous), $SLIPWAY_TEST_REGISTRY_BASIC (basic), $SLIPWAY_TEST_REGISTRY_TOKEN (token, $realm)" >&2
fi

if [ $# -gt 0 ]; then
    swift test "$@"
    exit 0
fi
# Everything once (the storage suites and the replica tests on both stores, the HTTP and process
# suites on SQLite), then the HTTP and process suites again with PostgreSQL behind the server.
swift test
SLIPWAY_TEST_STORE=postgres swift test --skip-build --filter SlipwayServerTests --skip ReplicaTests
# The web console in a real browser, against the binaries just built.
scripts/console-test.sh
# The API contract: schemathesis against slipwayd, with our document and the upstream one.
scripts/contract-test.sh
