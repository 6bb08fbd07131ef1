#!/usr/bin/env bash
# Starts and stops a throwaway PostgreSQL 15 cluster on 127.0.0.1 for the tests and benchmarks.
#
#   scripts/postgres.sh start [DIR]     create a fresh cluster under DIR (default: a new mktemp -d;
#                                       an existing DIR must be empty), start it, and print exactly
#                                       one line on stdout: postgres://slipway@127.0.0.1:PORT/postgres
#   scripts/postgres.sh stop DIR        fast-stop the cluster and remove DIR
#   scripts/postgres.sh stop-server DIR fast-stop the server, keep the data (no-op if it is stopped)
#   scripts/postgres.sh start-server DIR start the stopped server again on the same port, print the URL
#   scripts/postgres.sh restart DIR     fast stop, then start on the same port, print the URL
#   scripts/postgres.sh url DIR         print the URL
#   scripts/postgres.sh status DIR      exit 0 if the server is running, 3 if it is not
#   scripts/postgres.sh tls DIR         make the running server take TCP connections over TLS only: a CA
#                                       and a certificate for 127.0.0.1 made with openssl (DIR/tls/),
#                                       ssl=on, plain connections refused; prints the CA's PEM path
#
# Superuser `slipway`, trust authentication, UTF8 with locale C.UTF-8, ICU checked at start,
# max_connections=1000, fsync=on. Port: the first free one from 55432 upward. Everything but the
# URL goes to stderr. Under DIR: data/ (the data directory), socket/ (the Unix socket), postgres.log
# (the server log) and .slipway-cluster (what the other commands read).
# As root the server runs as the `postgres` user (initdb and postgres refuse root), and `start`
# installs the Debian `postgresql` package if PostgreSQL 15 is missing.
set -euo pipefail

bindir=/usr/lib/postgresql/15/bin
superuser=slipway
first_port=55432
last_port=55999
state_name=.slipway-cluster
# The client must not pick up another cluster from the environment.
unset PGDATA PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGOPTIONS PGSERVICE PGSERVICEFILE PGPASSFILE PGSSLMODE

log() { echo "postgres.sh: $*" >&2; }
die() { log "$*"; exit 1; }

usage() {
    sed -n '2,12s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

# --- the binaries ------------------------------------------------------------------------------

ensure_installed() {
    [ -x "$bindir/initdb" ] && return 0
    if [ "$(id -u)" != 0 ]; then
        die "PostgreSQL 15 is not installed ($bindir/initdb is missing); install it as root: apt-get update && apt-get install -y postgresql"
    fi
    command -v apt-get >/dev/null || die "PostgreSQL 15 is not installed and apt-get is unavailable"
    log "installing the Debian package postgresql…"
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; } >&2
    [ -x "$bindir/initdb" ] || die "installed postgresql, but $bindir/initdb is still missing (is this Debian 12?)"
}

pg_isready_bin() {
    if [ -x "$bindir/pg_isready" ]; then echo "$bindir/pg_isready"
    elif [ -x /usr/bin/pg_isready ]; then echo /usr/bin/pg_isready
    else die "pg_isready not found"; fi
}

psql_bin() {
    if [ -x "$bindir/psql" ]; then echo "$bindir/psql"
    elif command -v psql >/dev/null; then command -v psql
    else die "psql not found"; fi
}

me=$(id -un 2>/dev/null || id -u)

# Runs a server binary as the cluster's owner (`postgres` for a cluster made by root): pg_ctl,
# initdb and postgres refuse to run as root.
as_owner() {
    if [ "$owner" = "$me" ] && [ "$(id -u)" != 0 ]; then
        "$@"
    elif [ "$(id -u)" = 0 ]; then
        (cd / && runuser -u "$owner" -- "$@")
    else
        die "the cluster runs as $owner: manage it as $owner or as root"
    fi
}

# --- the state file ----------------------------------------------------------------------------

write_state() {
    local tmp="$dir/$state_name.tmp"
    {
        echo "data=$data"
        echo "socket=$socket"
        echo "log=$logfile"
        echo "port=$port"
        echo "owner=$owner"
        echo "url=$url"
    } > "$tmp"
    mv "$tmp" "$dir/$state_name"
}

# Sets dir, data, socket, logfile, port, owner, url from DIR/.slipway-cluster.
load_state() {
    [ -n "${1:-}" ] || usage
    [ -d "$1" ] || die "$1: no such directory"
    dir=$(cd "$1" && pwd -P)
    [ -f "$dir/$state_name" ] || die "$dir is not a cluster made by scripts/postgres.sh start (no $state_name)"
    data= socket= logfile= port= owner= url=
    local key value
    while IFS='=' read -r key value; do
        case $key in
            data) data=$value ;;
            socket) socket=$value ;;
            log) logfile=$value ;;
            port) port=$value ;;
            owner) owner=$value ;;
            url) url=$value ;;
        esac
    done < "$dir/$state_name"
    [ -n "$data" ] && [ -n "$port" ] || die "$dir/$state_name is incomplete"
    [ -n "$owner" ] || die "$dir/$state_name names no owner"
    if [ "$owner" != "$me" ] && [ "$(id -u)" != 0 ]; then
        die "the cluster in $dir runs as $owner: manage it as $owner or as root"
    fi
}

# --- the server --------------------------------------------------------------------------------

running() { as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; }

port_in_use() {
    if command -v ss >/dev/null; then
        [ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]
    else
        # Something accepts connections there (a listener on 0.0.0.0 or 127.0.0.1).
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}

# Starts the server on $port; returns 1 (and leaves the log) if it does not come up.
start_server() {
    local opts="-p $port -c listen_addresses=127.0.0.1 -c max_connections=1000 -c fsync=on"
    if [ -n "$socket" ]; then
        opts="$opts -k '$socket'"
    else
        opts="$opts -c unix_socket_directories=''"
    fi
    if ! as_owner "$bindir/pg_ctl" -D "$data" -l "$logfile" -o "$opts" -w -t 60 start >&2; then
        return 1
    fi
    wait_ready
}

wait_ready() {
    local isready i
    isready=$(pg_isready_bin) || return 1
    for i in $(seq 1 300); do
        if "$isready" -q -h 127.0.0.1 -p "$port" -U "$superuser" -d postgres -t 2; then
            return 0
        fi
        running || break
        sleep 0.1
    done
    log "the server on port $port is not accepting connections"
    return 1
}

stop_server() {
    if ! running; then
        log "the server in $dir is not running"
        return 0
    fi
    if ! as_owner "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 stop >&2; then
        log "fast stop failed; stopping immediately"
        as_owner "$bindir/pg_ctl" -D "$data" -m immediate -w -t 30 stop >&2
    fi
}

show_log() {
    if [ -f "$logfile" ]; then
        log "last lines of $logfile:"
        tail -n 30 "$logfile" >&2 || true
    fi
}

# Fails unless a nondeterministic ICU collation works (the schema creates one). Leaves nothing behind.
check_icu() {
    local psql out
    psql=$(psql_bin) || return 1
    out=$("$psql" -X -q -A -t -v ON_ERROR_STOP=1 "$url" 2>&1 <<'SQL'
BEGIN;
CREATE COLLATION slipway_icu_check (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
SELECT 'A' = 'a' COLLATE slipway_icu_check;
ROLLBACK;
SQL
    ) || { log "ICU collation check failed: $out"; return 1; }
    [ "$out" = t ] || { log "ICU collation check: expected 't', got: $out"; return 1; }
}

# --- the commands ------------------------------------------------------------------------------

cmd_start() {
    ensure_installed
    if [ "$(id -u)" = 0 ]; then
        owner=postgres
        id postgres >/dev/null 2>&1 || die "there is no postgres user (is the postgresql package installed?)"
    else
        owner=$me
    fi
    local made_dir=0 ok=0 log_size
    if [ -n "${1:-}" ]; then
        if [ -e "$1" ]; then
            [ -d "$1" ] || die "$1 exists and is not a directory"
            [ -z "$(ls -A "$1")" ] || die "$1 is not empty"
        else
            mkdir -p "$1"
            made_dir=1
        fi
        dir=$(cd "$1" && pwd -P)
    else
        dir=$(mktemp -d "${TMPDIR:-/tmp}/slipway-pg.XXXXXX")
        made_dir=1
    fi
    data=$dir/data
    logfile=$dir/postgres.log

    # On failure: show the log, stop whatever started, and remove what we made.
    cleanup_start() {
        [ "$ok" = 1 ] && return 0
        show_log
        [ -f "$data/postmaster.pid" ] && stop_server >/dev/null 2>&1 || true
        if [ "$made_dir" = 1 ]; then
            rm -rf "$dir"
        else
            find "$dir" -mindepth 1 -delete 2>/dev/null || true
        fi
    }
    trap cleanup_start EXIT

    case $dir in *[\'\"\\\ ]*) die "$dir: the path must not contain quotes, backslashes or spaces" ;; esac
    socket=$dir/socket
    # A Unix socket path holds at most 107 bytes; beyond that the server gets TCP only.
    if [ $(( ${#socket} + 20 )) -gt 107 ]; then
        log "$socket is too long for a Unix socket; the server listens on TCP only"
        socket=
    fi
    if [ "$owner" = postgres ]; then
        chown postgres: "$dir"
        as_owner test -w "$dir" || die "the postgres user cannot write to $dir (a parent directory is closed to it); pick a DIR under /tmp"
    fi
    as_owner mkdir -p "$data" ${socket:+"$socket"}
    chmod 700 "$data"
    [ -n "$socket" ] && chmod 700 "$socket"
    log "initdb in $data…"
    if ! as_owner "$bindir/initdb" -D "$data" -A trust -U "$superuser" -E UTF8 --locale=C.UTF-8 \
            > "$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        die "initdb failed"
    fi
    as_owner touch "$logfile"

    port=$first_port
    while :; do
        [ "$port" -le "$last_port" ] || die "no free port in $first_port-$last_port"
        if port_in_use "$port"; then
            port=$((port + 1))
            continue
        fi
        url="postgres://$superuser@127.0.0.1:$port/postgres"
        log "starting PostgreSQL on 127.0.0.1:$port…"
        log_size=$(wc -c < "$logfile")
        if start_server; then
            break
        fi
        # Someone else took the port between the check and the bind: try the next one.
        if tail -c +$((log_size + 1)) "$logfile" 2>/dev/null |
                grep -q -e 'could not bind' -e 'Address already in use' -e 'could not create lock file'; then
            log "port $port was taken; trying the next one"
            stop_server >/dev/null 2>&1 || true
            port=$((port + 1))
            continue
        fi
        die "the server did not start"
    done
    write_state
    check_icu || die "ICU is not usable on this cluster"
    ok=1
    trap - EXIT
    log "cluster ready in $dir (stop it with: scripts/postgres.sh stop $dir)"
    echo "$url"
}

cmd_stop() {
    [ -n "${1:-}" ] || usage
    if [ ! -e "$1" ]; then
        log "$1 does not exist; nothing to stop"
        return 0
    fi
    load_state "$1"
    [ -f "$data/PG_VERSION" ] && stop_server
    rm -rf "$dir"
    log "stopped and removed $dir"
}

cmd_stop_server() {
    load_state "${1:-}"
    stop_server
}

cmd_start_server() {
    load_state "${1:-}"
    if running; then
        log "the server in $dir is already running"
    else
        if port_in_use "$port"; then
            die "port $port is taken by another process; cannot start the cluster in $dir on its port"
        fi
        start_server || { show_log; die "the server did not start"; }
    fi
    echo "$url"
}

cmd_restart() {
    load_state "${1:-}"
    stop_server
    if port_in_use "$port"; then
        die "port $port is taken by another process; cannot start the cluster in $dir on its port"
    fi
    start_server || { show_log; die "the server did not start"; }
    echo "$url"
}

cmd_url() {
    load_state "${1:-}"
    echo "$url"
}

cmd_status() {
    load_state "${1:-}"
    if running; then
        log "running on 127.0.0.1:$port (data: $data)"
    else
        log "not running (data: $data)"
        exit 3
    fi
}

cmd_tls() {
    load_state "${1:-}"
    running || die "the server in $dir is not running"
    command -v openssl >/dev/null || die "openssl is not installed; install it as root: apt-get install -y openssl"
    local tls=$dir/tls psql
    psql=$(psql_bin) || die "psql not found"
    mkdir -p "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Slipway throwaway CA" \
        -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$tls/server.ext"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial -days 2 \
        -extfile "$tls/server.ext" -out "$tls/server.pem" 2>/dev/null
    # Written by the server's owner: PostgreSQL refuses a key that others can read.
    as_owner tee "$data/server.crt" < "$tls/server.pem" > /dev/null
    as_owner tee "$data/server.key" < "$tls/server.key" > /dev/null
    as_owner chmod 600 "$data/server.key"
    printf '%s\n' "local all all trust" "hostssl all all 127.0.0.1/32 trust" "hostnossl all all 127.0.0.1/32 reject" \
        | as_owner tee "$data/pg_hba.conf" > /dev/null
    "$psql" -X -q -v ON_ERROR_STOP=1 "$url" -c "ALTER SYSTEM SET ssl = on" -c "SELECT pg_reload_conf()" > /dev/null
    local i
    for i in $(seq 1 50); do
        if [ "$("$psql" -X -q -A -t "$url?sslmode=require" -c "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()" 2>/dev/null)" = t ]; then
            log "TLS only on 127.0.0.1:$port (CA: $tls/ca.pem)"
            echo "$tls/ca.pem"
            return 0
        fi
        sleep 0.1
    done
    show_log
    die "the server did not start taking TLS connections"
}

[ $# -ge 1 ] || usage
command=$1
shift
[ $# -le 1 ] || usage
case $command in
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    stop-server) cmd_stop_server "$@" ;;
    start-server) cmd_start_server "$@" ;;
    restart) cmd_restart "$@" ;;
    url) cmd_url "$@" ;;
    status) cmd_status "$@" ;;
    tls) cmd_tls "$@" ;;
    -h|--help|help) usage ;;
    *) usage ;;
esac
