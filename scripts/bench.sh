#!/usr/bin/env bash
# Builds release binaries, starts slipwayd on a temporary database (and a bare Hummingbird ceiling
# server beside it), runs every scenario of slipway-bench, and prints one table.
#   BENCH_DURATION=10 (seconds measured per read/write scenario, after a 2 s warm-up)
#   BENCH_ROLLOUTS="1000 10000 50000"   BENCH_AGENTS="10000 50000"   BENCH_CONNECTIONS="1 16 64 256"
#   BENCH_POSTGRES=1: then the same reads and writes with PostgreSQL behind slipwayd (a throwaway cluster
#   from scripts/postgres.sh, fsync on), against raw PostgreSQL inserts, and a rollout of
#   BENCH_POSTGRES_ROLLOUT=10000 instances through two replicas; 0 skips it.
# Fleets larger than the file descriptor limit allows are skipped, and the table says so.
# The tables go to stdout; the pictures (gnuplot, installed from Debian if missing) to docs/bench-*.png.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${BENCH_DURATION:-10}
rollouts=${BENCH_ROLLOUTS:-1000 10000 50000}
agents=${BENCH_AGENTS:-10000 50000}
connections=${BENCH_CONNECTIONS:-1 16 64 256}
port=18180
ceiling_port=18190

swift build -c release --product slipwayd >&2
swift build -c release --product slipway-bench >&2
bin=.build/release

# Every simulated agent holds a connection; both ends live on this machine.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d)
results="$work/results.jsonl"
postgres_results="$work/results-postgres.jsonl"
# Where the postgres user can reach it (scripts/postgres.sh runs the cluster as that user).
cluster=$(mktemp -d "${TMPDIR:-/tmp}/slipway-bench-pg.XXXXXX")
cleanup() {
    kill "${server_pid:-}" "${ceiling_pid:-}" "${replica_pid:-}" 2>/dev/null || true
    wait 2>/dev/null || true
    scripts/postgres.sh stop "$cluster" > /dev/null 2>&1 || rm -rf "$cluster"
}
trap cleanup EXIT

bench=("$bin/slipway-bench")

# Starts slipwayd on port $1 and database $2, logging to $3; its pid in $started_pid once it answers.
# Replicas of one PostgreSQL database share the key that seals registry passwords and the one that signs tokens.
# The simulated fleet connects from one address (127.0.0.1): lift the per-address connection cap for it.
bench_secret_key=$(openssl rand -base64 32)
bench_jwt_secret=$(openssl rand -base64 32)
start_slipwayd() {
    SLIPWAY_ADMIN_EMAIL=bench@example.com SLIPWAY_ADMIN_PASSWORD=bench-password-1 SLIPWAY_SECRET_KEY="$bench_secret_key" \
        SLIPWAY_JWT_SECRET="$bench_jwt_secret" SLIPWAY_MAX_CONNECTIONS_PER_ADDRESS=10000000 \
        SLIPWAY_QUOTAS=services=100000000,image-configs=100000000,instances=100000000 "$bin/slipwayd" --port "$1" --database "$2" > "$3" 2>&1 &
    started_pid=$!
    until curl -sf "http://127.0.0.1:$1/healthz" > /dev/null; do sleep 0.2; done
}

# Reads against a ceiling that answers the very bytes Describe and List answer, then durable writes,
# from the server in server_args; appended to $1.
reads_and_writes() {
    "${bench[@]}" reads "${server_args[@]}" --save-bodies-to "$work"
    "${bench[@]}" ceiling --port $ceiling_port --describe-file "$work/describe.json" --list-file "$work/list.json" > /dev/null 2>&1 &
    ceiling_pid=$!
    until curl -sf "http://127.0.0.1:$ceiling_port/list" > /dev/null; do sleep 0.2; done
    echo "reads…" >&2
    # shellcheck disable=SC2086
    "${bench[@]}" reads "${server_args[@]}" --ceiling "http://127.0.0.1:$ceiling_port" --connections $connections --duration "$duration" >> "$1"
    kill "$ceiling_pid"; wait "$ceiling_pid" 2>/dev/null || true
    echo "writes…" >&2
    "${bench[@]}" writes "${server_args[@]}" --duration "$duration" >> "$1"
}

start_slipwayd $port "$work/slipway.sqlite" "$work/slipwayd.log"
server_pid=$started_pid
sleep 1
rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
echo "{\"scenario\":\"memory-idle\",\"extra\":{\"serverRssMiB\":$(rss $server_pid)}}" >> "$results"

server_args=(--server "http://127.0.0.1:$port" --pid "$server_pid")
reads_and_writes "$results"
"${bench[@]}" sqlite-inserts --path "$work/raw.sqlite" --duration "$duration" >> "$results"
# Each simulated agent holds a socket in this process and one in slipwayd: a fleet larger than the
# descriptor limit cannot be simulated here, and is reported as skipped rather than left to fail.
fd_limit=$(ulimit -n)
fits() { [ $(($1 + 1024)) -le "$fd_limit" ]; }
skip() {
    echo "skipping $1: it needs about $(($2 + 1024)) file descriptors per process, and this machine allows $fd_limit (ulimit -Hn)" >&2
    echo "{\"scenario\":\"skipped\",\"extra\":{\"what\":\"$1\",\"needed\":$(($2 + 1024)),\"limit\":$fd_limit}}" >> "$results"
}
for n in $rollouts; do
    if ! fits "$n"; then skip "rollout@$n" "$n"; continue; fi
    for strategy in waves window; do
        echo "rollout of $n in $strategy…" >&2
        "${bench[@]}" rollout "${server_args[@]}" --instances "$n" --strategy $strategy >> "$results"
    done
done
instances=$(curl -sf "http://127.0.0.1:$port/metrics" | awk '/^slipway_instances / {print int($2)}')
echo "{\"scenario\":\"memory-after\",\"extra\":{\"serverRssMiB\":$(rss $server_pid),\"instances\":${instances:-0}}}" >> "$results"

# Each fleet on a fresh server, so that its memory per connection is what the connections added, not
# memory the rollouts left free; beside it, the bare framework holding as many requests open.
for n in $agents; do
    if ! fits "$n"; then skip "fleet@$n" "$n"; continue; fi
    echo "fleet of $n agents…" >&2
    kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
    start_slipwayd $port "$work/fleet-$n.sqlite" "$work/slipwayd-fleet-$n.log"
    server_pid=$started_pid
    "${bench[@]}" fleet --server "http://127.0.0.1:$port" --pid "$server_pid" --agents "$n" --duration "$duration" >> "$results"
    "${bench[@]}" ceiling --port $ceiling_port --describe-file "$work/describe.json" --list-file "$work/list.json" > /dev/null 2>&1 &
    ceiling_pid=$!
    until curl -sf "http://127.0.0.1:$ceiling_port/list" > /dev/null; do sleep 0.2; done
    "${bench[@]}" hold --ceiling "http://127.0.0.1:$ceiling_port" --pid "$ceiling_pid" --connections "$n" >> "$results"
    kill "$ceiling_pid"; wait "$ceiling_pid" 2>/dev/null || true
done

# Memory as the fleet grows, on a fresh server: instances registered, no agent connected.
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
start_slipwayd $port "$work/memory.sqlite" "$work/slipwayd-memory.log"
server_pid=$started_pid
# The largest fleet is then rolled out while image configs are created: how long its plan holds up other writes.
registers=${BENCH_REGISTER:-10000 100000}
for n in $registers; do
    echo "registering $n instances…" >&2
    plan=()
    [ "$n" = "${registers##* }" ] && plan=(--plan-rollout)
    "${bench[@]}" register --server "http://127.0.0.1:$port" --pid "$server_pid" --instances "$n" "${plan[@]}" >> "$results"
done

kill "$server_pid"; wait "$server_pid" 2>/dev/null || true

if [ "${BENCH_POSTGRES:-1}" != 0 ]; then
    echo "PostgreSQL…" >&2
    admin_url=$(scripts/postgres.sh start "$cluster")
    psql -X -q "$admin_url" -c "CREATE DATABASE slipway" -c "CREATE DATABASE raw"
    database=${admin_url%/postgres}/slipway
    # Two replicas on one database; the first to start drives rollouts.
    start_slipwayd $port "$database" "$work/slipwayd-postgres.log"
    server_pid=$started_pid
    start_slipwayd $((port + 1)) "$database" "$work/slipwayd-postgres-2.log"
    replica_pid=$started_pid
    sleep 1
    server_args=(--server "http://127.0.0.1:$port" --pid "$server_pid")
    reads_and_writes "$postgres_results"
    "${bench[@]}" postgres-inserts --url "${admin_url%/postgres}/raw" --duration "$duration" >> "$postgres_results"
    n=${BENCH_POSTGRES_ROLLOUT:-10000}
    if fits "$n"; then
        echo "rollout of $n through two replicas…" >&2
        "${bench[@]}" rollout "${server_args[@]}" --pid "$replica_pid" --instances "$n" \
            --agent-server "http://127.0.0.1:$port" --agent-server "http://127.0.0.1:$((port + 1))" >> "$postgres_results"
    else
        skip "rollout@$n on PostgreSQL" "$n"
    fi
fi

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; results in $work" >&2
python3 scripts/bench-table.py "$results"
if [ -s "$postgres_results" ]; then
    echo
    python3 scripts/bench-table.py --postgres "$postgres_results"
fi
if ! command -v gnuplot > /dev/null && [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox) > /dev/null 2>&1 || true
fi
python3 scripts/bench-plots.py "$results" docs || true
