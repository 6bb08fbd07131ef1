#!/usr/bin/env bash
# Starts and stops a throwaway OCI registry (Debian's docker-registry, distribution 2.8) on 127.0.0.1
# for the tests.
#
#   scripts/registry.sh start DIR [--basic USER PASS | --token REALM_URL ISSUER ROOTCERT_PEM]
#           create DIR (an existing DIR must be empty), write a config and storage there, start the
#           registry on a free port and print exactly one line on stdout: 127.0.0.1:PORT
#           (plain HTTP). Anonymous by default; --basic: htpasswd (bcrypt) with one user;
#           --token: Docker token auth, JWTs from ISSUER signed by a key whose certificate chains
#           to ROOTCERT_PEM, the token service at REALM_URL (service name: slipway-test-registry)
#   scripts/registry.sh stop DIR      stop the registry and remove DIR
#
# As root, `start` installs the Debian packages docker-registry (and apache2-utils for --basic)
# when they are missing. Everything but the address goes to stderr. Under DIR: config.yml,
# storage/, registry.log, registry.pid, htpasswd (--basic), address.
set -euo pipefail

first_port=55100
last_port=55999
service=slipway-test-registry

log() { echo "registry.sh: $*" >&2; }
die() { log "$*"; exit 1; }

usage() {
    sed -n '2,16s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

ensure_package() { # COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" != 0 ]; then
        die "$1 is missing; install it as root: apt-get update && apt-get install -y $2"
    fi
    command -v apt-get >/dev/null || die "$1 is missing and apt-get is unavailable"
    log "installing the Debian package $2…"
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "$2"; } >&2
    command -v "$1" >/dev/null 2>&1 || die "installed $2, but $1 is still missing"
}

port_in_use() {
    if command -v ss >/dev/null; then
        [ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}

# The HTTP status of GET /v2/ (000 when nothing answers).
v2_status() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$1/v2/" 2>/dev/null || true
}

running() { [ -f "$1/registry.pid" ] && kill -0 "$(cat "$1/registry.pid")" 2>/dev/null; }

cmd_start() {
    [ -n "${1:-}" ] || usage
    local target=$1
    shift
    local mode=anonymous user= pass= realm= issuer= rootcert=
    case ${1:-} in
        "") ;;
        --basic)
            [ $# -eq 3 ] || usage
            mode=basic user=$2 pass=$3 ;;
        --token)
            [ $# -eq 4 ] || usage
            mode=token realm=$2 issuer=$3 rootcert=$4
            [ -f "$rootcert" ] || die "$rootcert: no such file"
            rootcert=$(cd "$(dirname "$rootcert")" && pwd -P)/$(basename "$rootcert") ;;
        *) usage ;;
    esac
    ensure_package docker-registry docker-registry
    ensure_package curl curl
    [ "$mode" != basic ] || ensure_package htpasswd apache2-utils

    local made_dir=0 ok=0
    if [ -e "$target" ]; then
        [ -d "$target" ] || die "$target exists and is not a directory"
        [ -z "$(ls -A "$target")" ] || die "$target is not empty"
    else
        mkdir -p "$target"
        made_dir=1
    fi
    dir=$(cd "$target" && pwd -P)
    cleanup_start() {
        [ "$ok" = 1 ] && return 0
        if running "$dir"; then kill "$(cat "$dir/registry.pid")" 2>/dev/null || true; fi
        [ -f "$dir/registry.log" ] && { log "last lines of $dir/registry.log:"; tail -n 20 "$dir/registry.log" >&2 || true; }
        if [ "$made_dir" = 1 ]; then rm -rf "$dir"; else find "$dir" -mindepth 1 -delete 2>/dev/null || true; fi
    }
    trap cleanup_start EXIT

    mkdir -p "$dir/storage"
    local auth=""
    case $mode in
        basic)
            htpasswd -B -b -c "$dir/htpasswd" "$user" "$pass" 2>/dev/null || die "htpasswd failed"
            auth=$(printf 'auth:\n  htpasswd:\n    realm: slipway-test\n    path: %s\n' "$dir/htpasswd") ;;
        token)
            auth=$(printf 'auth:\n  token:\n    realm: "%s"\n    service: %s\n    issuer: "%s"\n    rootcertbundle: %s\n' \
                "$realm" "$service" "$issuer" "$rootcert") ;;
    esac

    local port=$first_port status i
    while :; do
        [ "$port" -le "$last_port" ] || die "no free port in $first_port-$last_port"
        if port_in_use "$port"; then port=$((port + 1)); continue; fi
        cat > "$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: $(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
$auth
EOF
        log "starting docker-registry ($mode) on 127.0.0.1:$port…"
        : > "$dir/registry.log"
        setsid docker-registry serve "$dir/config.yml" >> "$dir/registry.log" 2>&1 < /dev/null &
        echo $! > "$dir/registry.pid"
        for i in $(seq 1 100); do
            status=$(v2_status "127.0.0.1:$port")
            case $status in 200|401) break ;; esac
            running "$dir" || break
            sleep 0.1
        done
        case $status in 200|401) break ;; esac
        if running "$dir"; then kill "$(cat "$dir/registry.pid")" 2>/dev/null || true; fi
        if grep -q 'address already in use' "$dir/registry.log"; then
            log "port $port was taken; trying the next one"
            port=$((port + 1))
            continue
        fi
        die "the registry did not start (GET /v2/ answered ${status:-nothing})"
    done
    echo "127.0.0.1:$port" > "$dir/address"
    ok=1
    trap - EXIT
    log "registry ready at 127.0.0.1:$port (stop it with: scripts/registry.sh stop $dir)"
    echo "127.0.0.1:$port"
}

cmd_stop() {
    [ -n "${1:-}" ] || usage
    if [ ! -e "$1" ]; then
        log "$1 does not exist; nothing to stop"
        return 0
    fi
    local dir pid i
    dir=$(cd "$1" && pwd -P)
    [ -f "$dir/config.yml" ] || die "$dir is not a registry made by scripts/registry.sh start (no config.yml)"
    if running "$dir"; then
        pid=$(cat "$dir/registry.pid")
        kill "$pid" 2>/dev/null || true
        for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
    log "stopped and removed $dir"
}

[ $# -ge 1 ] || usage
command=$1
shift
case $command in
    start) cmd_start "$@" ;;
    stop) [ $# -eq 1 ] || usage; cmd_stop "$@" ;;
    -h|--help|help) usage ;;
    *) usage ;;
esac
