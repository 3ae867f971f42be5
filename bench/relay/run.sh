#!/usr/bin/env bash
# run.sh: build the release relay and load generator, then run the relay benchmark (with Redis).
# Usage: bench/relay/run.sh [BUILD_DIR] [relay_load options...]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build/release}
shift || true
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBC_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target backchannel-relay relay_load
"$build/bench/relay/relay_load" --relay "$build/bin/backchannel-relay" "$@"
