#!/usr/bin/env bash
# tape beside RocksDB's WAL and plain write()+fdatasync (bench/peers/, issue 6), in one process
# so every row sees the same machine: installs librocksdb-dev, builds Release in build/peers,
# runs tape_peer_bench (about 2 to 3 minutes), prints the console table and a Markdown table
# of the medians, and writes every repetition to build/peers-results.json.
#
# Environment: TAPE_BENCH_DIR (default /var/tmp; must be a disk, not tmpfs), JOBS (build
# parallelism, default nproc). Extra arguments go to tape_peer_bench.
set -euo pipefail
cd "$(dirname "$0")/../.."
TAPE_WITH_PEERS=1 bash tools/scripts/setup.sh

cmake -S . -B build/peers -G Ninja -DCMAKE_BUILD_TYPE=Release -DTAPE_BUILD_BENCH=ON \
  -DTAPE_BUILD_TESTS=OFF -DTAPE_BUILD_TOOLS=OFF -DTAPE_BUILD_FUZZ=OFF -DTAPE_SANITIZE= >/dev/null
cmake --build build/peers -j "${JOBS:-$(nproc)}" --target tape_peer_bench

dir=${TAPE_BENCH_DIR:-/var/tmp}
mkdir -p "$dir"
if [ "$(stat -f -c %T "$dir")" = tmpfs ]; then
  echo "bench_peers: warning: $dir is tmpfs; the sync rows will not mean much" >&2
fi
echo "bench_peers: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load$(uptime | sed 's/.*load average//'), files under $dir"

# Random interleaving runs the repetitions of all rows in a shuffled order, so a slow spell
# of the shared disk does not land on one system's rows only.
build/peers/bench/peers/tape_peer_bench \
  --benchmark_enable_random_interleaving=true \
  --benchmark_display_aggregates_only=true \
  --benchmark_out=build/peers-results.json --benchmark_out_format=json \
  "$@"
echo "bench_peers: load after$(uptime | sed 's/.*load average//'); JSON in build/peers-results.json"

# The medians as a Markdown table (docs/benchmarks.md), when python3 is there.
if command -v python3 >/dev/null; then
  python3 - build/peers-results.json <<'PY'
import json, re, sys
rows = [b for b in json.load(open(sys.argv[1]))["benchmarks"] if b.get("aggregate_name") == "median"]
# Registration order (the JSON has the interleaved order), each payload size on its own.
order = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    order.setdefault(b["run_name"], b["family_index"] * 100 + b["per_family_instance_index"])
rows.sort(key=lambda b: (int(re.search(r"payload:(\d+)", b["run_name"]).group(1)), order[b["run_name"]]))
print("| row | payload | writers | records/s | MB/s (payload) | p50 | p99 | p99.9 | records/sync |")
print("|---|---|---|---|---|---|---|---|---|")
def us(v):
    return "" if v is None else (f"{v / 1000:.2f} ms" if v >= 1000 else f"{v:.1f} µs")
for b in rows:
    m = re.match(r"(.*)/payload:(\d+)/writers:(\d+)", b["run_name"])
    name, payload, writers = m.group(1), m.group(2), m.group(3)
    rps = b.get("items_per_second", 0)
    rate = f"{rps / 1e6:.2f}M" if rps >= 1e6 else f"{rps / 1e3:.1f}k"
    rps_sync = b.get("records_per_sync")
    print(f"| {name} | {payload} | {writers} | {rate} | {b.get('bytes_per_second', 0) / 1e6:.1f} | "
          f"{us(b.get('p50_us'))} | {us(b.get('p99_us'))} | {us(b.get('p999_us'))} | "
          f"{'' if rps_sync is None else f'{rps_sync:.0f}'} |")
PY
fi
