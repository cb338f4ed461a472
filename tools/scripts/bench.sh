#!/usr/bin/env bash
# Builds tape in Release (build/bench) and runs the benchmark suite: console output, plus
# JSON in build/bench-results.json. About 2 minutes on 2 cores (most of it zero-filling segments).
#
# Environment:
#   TAPE_BENCH_DIR        where benchmark files go (default /var/tmp; must be a disk, not tmpfs)
#   TAPE_BENCH_BIG_BYTES  size of the big journal in the recovery benchmark (default 2 GiB;
#                         the 10 GiB claim is a manual run: TAPE_BENCH_BIG_BYTES=$((10<<30)))
#   JOBS                  build parallelism (default: nproc)
# Extra arguments go to the benchmark binary, e.g. --benchmark_filter=recovery.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/scripts/setup.sh

# The benchmarks need only the library: no tests, no tools in this build tree.
cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DTAPE_BUILD_BENCH=ON \
  -DTAPE_BUILD_TESTS=OFF -DTAPE_BUILD_TOOLS=OFF -DTAPE_BUILD_FUZZ=OFF -DTAPE_SANITIZE= >/dev/null
cmake --build build/bench -j "${JOBS:-$(nproc)}" --target tape_bench

dir=${TAPE_BENCH_DIR:-/var/tmp}
mkdir -p "$dir"
if [ "$(stat -f -c %T "$dir")" = tmpfs ]; then
  echo "bench: warning: $dir is tmpfs; sync and recovery figures will not mean much" >&2
fi
echo "bench: files under $dir ($(df -h --output=avail "$dir" | tail -1 | tr -d ' ') free)"

# --benchmark_min_time applies to rows without their own iteration count or min time (all
# rows set one); the repetitions are set per row too.
build/bench/bench/tape_bench \
  --benchmark_format=console \
  --benchmark_out=build/bench-results.json --benchmark_out_format=json \
  --benchmark_min_time=0.2 \
  --benchmark_counters_tabular=false \
  "$@"
echo "bench: JSON results in build/bench-results.json"
