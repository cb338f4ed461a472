#!/usr/bin/env bash
# The whole test suite: installs dependencies, then
#   1. Release build (gcc): every unit, integration, crash and corruption test;
#   2. ASan+UBSan build (clang): the journal, engine, replication, crash and CLI tests, plus the
#      libFuzzer targets for a bounded time (the install test alone is left to Release), and the
#      real-process failover tests with 20 kill trials and 3 elections (Release runs 50 and 10);
#   3. ThreadSanitizer build (clang): the engine's ring, engine and facade tests, the
#      replication tests (network thread, flushers, engine threads), the journal's
#      concurrent writer/flusher test, and the real-process failover tests (5 kills, 2 elections).
# Ends with ctest's summary line. Set TAPE_CRASH_TRIALS / TAPE_FUZZ_SECONDS for longer runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/scripts/setup.sh

jobs=$(nproc)
export CTEST_OUTPUT_ON_FAILURE=1

cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$jobs"

CC=clang CXX=clang++ cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTAPE_SANITIZE=address,undefined -DTAPE_BUILD_BENCH=OFF -DTAPE_BUILD_FUZZ=ON >/dev/null
cmake --build build/asan -j "$jobs"

CC=clang CXX=clang++ cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTAPE_SANITIZE=thread -DTAPE_BUILD_BENCH=OFF >/dev/null
cmake --build build/tsan -j "$jobs"

status=0
(cd build/asan && ctest -L 'journal|fuzz|engine|tools|crash|replication' -j "$jobs" --timeout 900) || status=$?
# Real `tape serve` processes under ASan+UBSan too: fewer kills than the Release run's 50 (and
# elections than its 10), to bound the time (TAPE_FAILOVER_ASAN_TRIALS, TAPE_ELECTION_ASAN_TRIALS).
(cd build/asan && TAPE_FAILOVER_TRIALS="${TAPE_FAILOVER_ASAN_TRIALS:-20}" \
  TAPE_ELECTION_TRIALS="${TAPE_ELECTION_ASAN_TRIALS:-3}" ctest -L failover --timeout 900) ||
  status=$?
(cd build/tsan && ctest -L 'engine|replication' -j "$jobs" --timeout 900) || status=$?
(cd build/tsan && ctest -R 'ConcurrentSync' -j "$jobs" --timeout 900) || status=$?
# The real-process failover and election tests with `tape serve` built under TSan: a few trials
# (TAPE_FAILOVER_TSAN_TRIALS, TAPE_ELECTION_TSAN_TRIALS); any report in a node's stderr fails.
(cd build/tsan && TAPE_FAILOVER_TRIALS="${TAPE_FAILOVER_TSAN_TRIALS:-5}" \
  TAPE_ELECTION_TRIALS="${TAPE_ELECTION_TSAN_TRIALS:-2}" ctest -L failover --timeout 900) ||
  status=$?
# Release last, so the suite ends with the summary of the full run.
(cd build/release && ctest -j "$jobs" --timeout 900) || status=$?
exit $status
