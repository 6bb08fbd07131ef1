#!/usr/bin/env python3
"""Turns slipway-bench's JSON lines into the tables of docs/BENCHMARKS.md, with the ratios.
   bench-table.py RESULTS              slipwayd on its SQLite default
   bench-table.py --postgres RESULTS   replicas on PostgreSQL"""
import json
import sys

postgres = sys.argv[1] == "--postgres"
rows = {}
skipped = []
for line in open(sys.argv[-1]):
    line = line.strip()
    if line.startswith("{"):
        m = json.loads(line)
        if m["scenario"] == "skipped":
            skipped.append(m["extra"])
        else:
            rows[m["scenario"]] = m

def get(name, key, default=0.0):
    m = rows.get(name, {})
    return m.get(key, m.get("extra", {}).get(key, default))

behind = " with PostgreSQL behind slipwayd" if postgres else ""
print(f"### Reads{behind}: Slipway against the bare framework serving the same bytes")
print("| operation | connections | Slipway req/s | ceiling req/s | ratio | p50 ms | p99 ms | p99.9 ms | ceiling p99 ms | p99 ratio |")
print("|---|---|---|---|---|---|---|---|---|---|")
for op in ("describe", "list"):
    for name in sorted((n for n in rows if n.startswith(op + "@")), key=lambda n: int(n.split("@")[1])):
        c = name.split("@")[1]
        ceil = f"ceiling-{op}@{c}"
        r, cr = get(name, "requestsPerSecond"), get(ceil, "requestsPerSecond")
        p99, cp99 = get(name, "p99Ms"), get(ceil, "p99Ms")
        print(f"| {op} | {c} | {r:,.0f} | {cr:,.0f} | {r / cr if cr else 0:.2f} | {get(name, 'p50Ms'):.2f} | {p99:.2f} | {get(name, 'p999Ms'):.2f} | {cp99:.2f} | {p99 / cp99 if cp99 else 0:.2f} |")

print()
raw_name = "postgres-insert" if "postgres-insert" in rows else "sqlite-insert"
if raw_name == "postgres-insert":
    print("### Durable writes: Slipway on PostgreSQL against raw PostgreSQL inserts (a transaction each, one connection)")
else:
    print("### Durable writes: Slipway against raw SQLite inserts (WAL, synchronous=FULL, a transaction each)")
print("| operation | req/s | p50 ms | p99 ms | ratio to raw inserts |")
print("|---|---|---|---|---|")
raw = get(raw_name, "requestsPerSecond")
for op in ("create", "update", raw_name):
    r = get(op, "requestsPerSecond")
    print(f"| {op} | {r:,.0f} | {get(op, 'p50Ms'):.2f} | {get(op, 'p99Ms'):.2f} | {r / raw if raw else 0:.2f} |")

print()
where = " through two replicas on PostgreSQL (agents spread over both; CPU and RSS are their sums)" if postgres else ""
print(f"### Rollouts{where}: simulated instances that take 200 ms each to apply, maxConcurrentUpgrades 500")
print("| instances | strategy | batches of the ideal | wall s | ideal s | ratio | overhead ms/instance | server CPU s | server CPU ms/instance | simulated fleet CPU s | CPU floor s | server peak RSS MiB |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for name in sorted((n for n in rows if n.startswith("rollout")), key=lambda n: (int(n.split("@")[1]), n)):
    strategy = name.split("@")[0].removeprefix("rollout").removeprefix("-") or "waves"
    print(f"| {name.split('@')[1]} | {strategy} | {get(name, 'waves'):.0f} | {get(name, 'wallSeconds'):.2f} | {get(name, 'idealSeconds'):.2f} | {get(name, 'ratio'):.3f} | {get(name, 'overheadMsPerInstance'):.3f} | {get(name, 'serverCpuSeconds'):.1f} | {get(name, 'serverCpuMsPerInstance'):.3f} | {get(name, 'fleetCpuSeconds'):.1f} | {get(name, 'cpuFloorSeconds'):.2f} | {get(name, 'serverPeakRssMiB'):.0f} |")
print()
print("CPU floor: (server CPU + simulated fleet CPU) / cores — with every core busy, the wall time cannot be lower.")

if postgres:
    sys.exit(0)

print()
print("### A fleet of agents on long-poll")
print("| phase | agents | reports/s | report p50 ms | report p99 ms | server CPU % of one core | server RSS MiB |")
print("|---|---|---|---|---|---|---|")
for name in sorted(n for n in rows if n.startswith("fleet-")):
    phase, agents = name.split("@")
    print(f"| {phase.replace('fleet-', '')} | {agents} | {get(name, 'requestsPerSecond'):,.0f} | {get(name, 'p50Ms'):.2f} | {get(name, 'p99Ms'):.2f} | {get(name, 'serverCpuPercent'):.1f} | {get(name, 'serverRssMiB'):.0f} |")
idles = sorted((n for n in rows if n.startswith("fleet-idle@")), key=lambda n: int(n.split("@")[1]))
if idles:
    print()
    print("| memory per connection, a request in flight on each | agents | KiB per connection | ratio |")
    print("|---|---|---|---|")
    for name in idles:
        agents = name.split("@")[1]
        slipway, bare = get(name, "serverKiBPerConnection"), get(f"ceiling-hold@{agents}", "serverKiBPerConnection")
        print(f"| slipwayd, an idle long-poll | {agents} | {slipway:.1f} | {slipway / bare if bare else 0:.2f} |")
        print(f"| the bare framework, a request held open | {agents} | {bare:.1f} | 1.00 |")

print()
print("### Memory")
print(f"| slipwayd RSS idle | {get('memory-idle', 'serverRssMiB'):.0f} MiB |")
print("|---|---|")
print(f"| slipwayd RSS after all the scenarios above, {get('memory-after', 'instances'):.0f} instances registered | {get('memory-after', 'serverRssMiB'):.0f} MiB |")
for name in sorted((n for n in rows if n.startswith("register@")), key=lambda n: int(n.split("@")[1])):
    total = name.split("@")[1]
    print(f"| fresh slipwayd, RSS after registering (and listing) {int(total):,} instances at {get(name, 'requestsPerSecond'):,.0f}/s (the second row counts both) | {get(name, 'serverRssMiB'):.0f} MiB |")

plans = sorted((n for n in rows if n.startswith("plan@")), key=lambda n: int(n.split("@")[1]))
if plans:
    print()
    print("### A rollout of the whole fleet, planned while image configs are created back to back")
    print("| instances planned | rollout created in s | creates during | create p50 ms alone / during | p99 ms alone / during | max ms alone / during |")
    print("|---|---|---|---|---|---|")
    for name in plans:
        print(f"| {get(name, 'rolloutInstances'):,.0f} | {get(name, 'seconds'):.2f} | {get(name, 'requests'):,.0f} | {get(name, 'createAloneP50Ms'):.2f} / {get(name, 'p50Ms'):.2f} | {get(name, 'createAloneP99Ms'):.2f} / {get(name, 'p99Ms'):.2f} | {get(name, 'createAloneMaxMs'):.1f} / {get(name, 'createDuringMaxMs'):.1f} |")

if skipped:
    print()
    print("### Not run on this machine")
    for s in skipped:
        print(f"- {s['what']}: needs about {s['needed']:,} file descriptors per process; the limit here is {s['limit']:,}")
