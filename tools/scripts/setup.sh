#!/usr/bin/env bash
# Installs every build, test and benchmark dependency of tape from Debian 12 packages.
# Idempotent: a second run installs nothing and finishes in about a second.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libboost-dev libboost-program-options-dev
  libxxhash-dev libssl-dev
  libgtest-dev libgmock-dev googletest
  libbenchmark-dev libconcurrentqueue-dev
  libcli11-dev nlohmann-json3-dev
  gnuplot-nox
  clang clang-format lld libclang-rt-dev
  util-linux e2fsprogs
)
# Peer benchmarks (bench/peers/) only on request: TAPE_WITH_PEERS=1.
if [ "${TAPE_WITH_PEERS:-0}" = 1 ]; then
  packages+=(librocksdb-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages ${missing[*]}; run as root or install them with apt-get" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
