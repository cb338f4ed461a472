#!/usr/bin/env bash
# tape's main job: installs, builds, and runs `tape demo` (about a minute): a primary and a
# standby as separate processes, a client at a fixed rate with standby-durable
# acknowledgements, the primary SIGKILLed mid-load, the standby taking over, and every
# acknowledged record checked on the survivor. Exits non-zero if anything acknowledged was lost.
#
# Environment: REPORT (report directory, default ./tape-demo-report), DURATION_S (default 40),
# RATE (records/s, default 5000), RECORD_SIZE (bytes, default 256).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/scripts/setup.sh

cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$(nproc)" --target tape

exec build/release/tools/tape demo --report "${REPORT:-tape-demo-report}" \
  --duration-s "${DURATION_S:-40}" --rate "${RATE:-5000}" --size "${RECORD_SIZE:-256}"
