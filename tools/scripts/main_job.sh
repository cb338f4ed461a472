#!/usr/bin/env bash
# tape's main job: build, write a generated workload of RECORDS records (default 1,000,000)
# into a fresh journal with `tape append`, verify it, and print the rates and `tape stat`.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/scripts/setup.sh

records=${RECORDS:-1000000}
size=${RECORD_SIZE:-100}
dir=${JOURNAL_DIR:-$(mktemp -d)/journal}

cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$(nproc)" --target tape
tape=build/release/tools/tape

echo "main job: appending ${records} records of ${size} bytes to ${dir}"
"$tape" generate --count "$records" --size "$size" | "$tape" append "$dir"
"$tape" verify "$dir"
"$tape" stat "$dir"
