#!/usr/bin/env python3
"""Draws slipway-bench's JSON lines with gnuplot (Debian's gnuplot-nox), into PNGs beside docs/BENCHMARKS.md.
   bench-plots.py RESULTS [OUTPUT_DIR]   (default OUTPUT_DIR: docs)
Two pictures:
  bench-rollouts.png  each rollout's wall time and CPU floor, in multiples of its ideal time, by fleet size and strategy
  bench-reads.png     Describe's and List's latency percentiles against the bare framework's, by connections"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

results, out = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "docs")
if shutil.which("gnuplot") is None:
    sys.exit("bench-plots.py: gnuplot is not installed (apt-get install gnuplot-nox); no pictures drawn")
rows = {}
for line in open(results):
    line = line.strip()
    if line.startswith("{"):
        m = json.loads(line)
        rows[m["scenario"]] = m


def get(name, key):
    m = rows.get(name, {})
    return m.get(key, m.get("extra", {}).get(key, 0.0))


work = tempfile.mkdtemp()
os.makedirs(out, exist_ok=True)
scripts = []

# Rollouts: one cluster per fleet size and strategy; the ideal is 1 by construction.
rollouts = sorted((n for n in rows if n.startswith("rollout")), key=lambda n: (int(n.split("@")[1]), n != f"rollout@{n.split('@')[1]}", n))
if rollouts:
    with open(f"{work}/rollouts.dat", "w") as f:
        for name in rollouts:
            strategy = name.split("@")[0].removeprefix("rollout").removeprefix("-") or "waves"
            ideal = get(name, "idealSeconds") or 1
            f.write(f'"{int(name.split("@")[1]):,} {strategy}" {get(name, "wallSeconds") / ideal:.3f} {get(name, "cpuFloorSeconds") / ideal:.3f}\n')
    scripts.append(f"""
set terminal pngcairo size 900,500 font ",11"
set output "{out}/bench-rollouts.png"
set title "Rollouts of simulated instances (200 ms apply each, 500 at a time), in multiples of the ideal time"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set ylabel "× ideal time"
set yrange [0:*]
set grid ytics
set key outside bottom center horizontal
set arrow from graph 0, first 1 to graph 1, first 1 nohead dashtype 2 lw 2 lc rgb "black"
set label "ideal" at graph 0.99, first 1 right offset 0, 0.6
plot "{work}/rollouts.dat" using 2:xtic(1) title "wall time" lc rgb "#3465a4", \\
     "" using 3 title "CPU floor: (server + simulated fleet CPU) / cores" lc rgb "#f57900"
unset arrow
unset label
""")

# Reads: percentiles against connections, Slipway solid, the ceiling dashed.
reads = {}
for op in ("describe", "list"):
    names = sorted((n for n in rows if n.startswith(op + "@")), key=lambda n: int(n.split("@")[1]))
    if names:
        reads[op] = f"{work}/{op}.dat"
        with open(reads[op], "w") as f:
            for name in names:
                c = name.split("@")[1]
                ceiling = f"ceiling-{op}@{c}"
                f.write(f"{c} {get(name, 'p50Ms')} {get(name, 'p99Ms')} {get(name, 'p999Ms')} {get(ceiling, 'p50Ms')} {get(ceiling, 'p99Ms')} {get(ceiling, 'p999Ms')}\n")
if reads:
    panels = []
    for op, path in reads.items():
        panels.append(f"""
set title "{op.capitalize()}: Slipway (solid) against the bare framework serving the same bytes (dashed)"
plot "{path}" using 1:2 with linespoints lc rgb "#3465a4" lw 2 title "p50", \\
     "" using 1:3 with linespoints lc rgb "#f57900" lw 2 title "p99", \\
     "" using 1:4 with linespoints lc rgb "#cc0000" lw 2 title "p99.9", \\
     "" using 1:5 with linespoints lc rgb "#3465a4" dashtype 2 title "ceiling p50", \\
     "" using 1:6 with linespoints lc rgb "#f57900" dashtype 2 title "ceiling p99", \\
     "" using 1:7 with linespoints lc rgb "#cc0000" dashtype 2 title "ceiling p99.9"
""")
    scripts.append(f"""
set terminal pngcairo size 900,{420 * len(panels)} font ",11"
set output "{out}/bench-reads.png"
set multiplot layout {len(panels)},1
set logscale xy
set autoscale xfix
set offsets graph 0.03, graph 0.03, 0, 0
set xlabel "connections"
set ylabel "latency, ms"
set grid xtics ytics mytics
set key top left
set style data linespoints
{"".join(panels)}
unset multiplot
""")

for script in scripts:
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
shutil.rmtree(work)
drawn = [p for p in ("bench-rollouts.png", "bench-reads.png") if os.path.exists(f"{out}/{p}")]
print(f"bench-plots.py: drew {', '.join(f'{out}/{p}' for p in drawn) or 'nothing (no rollout or read rows)'}", file=sys.stderr)
