#!/usr/bin/env bash
# Starts and stops the Docker token service of the tests (scripts/token-server.py) on 127.0.0.1.
#
#   scripts/token-server.sh start DIR USER PASS
#           make a throwaway P-256 key and self-signed certificate with openssl under DIR (which must
#           be empty or missing), start the token service for USER/PASS, and print exactly one line
#           on stdout: REALM_URL ISSUER ROOTCERT_PEM (what `scripts/registry.sh start DIR --token`
#           takes)
#   scripts/token-server.sh stop DIR  stop it and remove DIR
set -euo pipefail

issuer=slipway-test-token-issuer

log() { echo "token-server.sh: $*" >&2; }
die() { log "$*"; exit 1; }
usage() { sed -n '2,10s/^# \{0,1\}//p' "$0" >&2; exit 2; }

running() { [ -f "$1/server.pid" ] && kill -0 "$(cat "$1/server.pid")" 2>/dev/null; }

cmd_start() {
    [ $# -eq 3 ] || usage
    local target=$1 user=$2 pass=$3 ok=0 i port
    command -v openssl >/dev/null || die "openssl is not installed; install it as root: apt-get install -y openssl"
    command -v python3 >/dev/null || die "python3 is not installed; install it as root: apt-get install -y python3"
    if [ -e "$target" ]; then
        [ -d "$target" ] && [ -z "$(ls -A "$target")" ] || die "$target is not an empty directory"
    fi
    mkdir -p "$target"
    dir=$(cd "$target" && pwd -P)
    cleanup_start() {
        [ "$ok" = 1 ] && return 0
        if running "$dir"; then kill "$(cat "$dir/server.pid")" 2>/dev/null || true; fi
        [ -f "$dir/server.log" ] && tail -n 20 "$dir/server.log" >&2
        rm -rf "$dir"
    }
    trap cleanup_start EXIT
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=$issuer" -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null || die "openssl could not make the signing certificate"
    setsid python3 "$(cd "$(dirname "$0")" && pwd -P)/token-server.py" --key "$dir/key.pem" --cert "$dir/cert.pem" \
        --issuer "$issuer" --user "$user" --password "$pass" --port-file "$dir/port" > "$dir/server.log" 2>&1 < /dev/null &
    echo $! > "$dir/server.pid"
    for i in $(seq 1 100); do
        [ -f "$dir/port" ] && break
        running "$dir" || die "the token service exited"
        sleep 0.1
    done
    [ -f "$dir/port" ] || die "the token service did not start"
    port=$(cat "$dir/port")
    ok=1
    trap - EXIT
    log "token service at http://127.0.0.1:$port/token (stop it with: scripts/token-server.sh stop $dir)"
    echo "http://127.0.0.1:$port/token $issuer $dir/cert.pem"
}

cmd_stop() {
    [ $# -eq 1 ] || usage
    [ -e "$1" ] || { log "$1 does not exist; nothing to stop"; return 0; }
    local dir pid
    dir=$(cd "$1" && pwd -P)
    [ -f "$dir/cert.pem" ] || [ -f "$dir/server.pid" ] || die "$dir is not a token service made by scripts/token-server.sh start"
    if running "$dir"; then
        pid=$(cat "$dir/server.pid")
        kill "$pid" 2>/dev/null || true
        for i in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -rf "$dir"
    log "stopped and removed $dir"
}

[ $# -ge 1 ] || usage
command=$1
shift
case $command in
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    *) usage ;;
esac
