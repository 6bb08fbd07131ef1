#!/usr/bin/env bash
# The read and write scenarios of scripts/bench.sh with PostgreSQL behind slipwayd: a throwaway cluster
# from scripts/postgres.sh (fsync on), Describe and List against the same ceiling server, durable creates
# and updates against raw single-row PostgreSQL inserts measured in the same run. Prints one table.
#   BENCH_DURATION=10   BENCH_CONNECTIONS="1 16 64 256"
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${BENCH_DURATION:-10}
connections=${BENCH_CONNECTIONS:-1 16 64 256}
port=18280
ceiling_port=18290

swift build -c release --product slipwayd >&2
swift build -c release --product slipway-bench >&2
bin=.build/release

work=$(mktemp -d)
results="$work/results.jsonl"
cluster=$(mktemp -d "${TMPDIR:-/tmp}/slipway-bench-pg.XXXXXX")
cleanup() {
    kill "${server_pid:-}" "${ceiling_pid:-}" 2>/dev/null || true
    wait 2>/dev/null || true
    scripts/postgres.sh stop "$cluster" 2>/dev/null || true
}
trap cleanup EXIT

admin_url=$(scripts/postgres.sh start "$cluster")
psql -X -q "$admin_url" -c "CREATE DATABASE slipway" -c "CREATE DATABASE raw"
database=${admin_url%/postgres}/slipway
SLIPWAY_ADMIN_EMAIL=bench@example.com SLIPWAY_ADMIN_PASSWORD=bench-password-1 \
    "$bin/slipwayd" --port $port --database "$database" > "$work/slipwayd.log" 2>&1 &
server_pid=$!
until curl -sf "http://127.0.0.1:$port/healthz" > /dev/null; do sleep 0.2; done
sleep 1

bench=("$bin/slipway-bench")
server_args=(--server "http://127.0.0.1:$port" --pid "$server_pid")
"${bench[@]}" reads "${server_args[@]}" --save-bodies-to "$work"
"$bin/slipway-bench" ceiling --port $ceiling_port --describe-file "$work/describe.json" --list-file "$work/list.json" > /dev/null 2>&1 &
ceiling_pid=$!
until curl -sf "http://127.0.0.1:$ceiling_port/list" > /dev/null; do sleep 0.2; done

echo "reads…" >&2
# shellcheck disable=SC2086
"${bench[@]}" reads "${server_args[@]}" --ceiling "http://127.0.0.1:$ceiling_port" --connections $connections --duration "$duration" >> "$results"
echo "writes…" >&2
"${bench[@]}" writes "${server_args[@]}" --duration "$duration" >> "$results"
"${bench[@]}" postgres-inserts --url "${admin_url%/postgres}/raw" --duration "$duration" >> "$results"

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; results in $results" >&2
python3 scripts/bench-table.py "$results" | sed -n '/^### Reads/,/^### Rollouts/p' | sed '$d'
