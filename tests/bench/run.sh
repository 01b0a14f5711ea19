#!/usr/bin/env bash
# Builds byed in Release and runs the benchmarks side by side with tini and
# dumb-init (Debian packages; .ci/install-deps installs them).
#   tests/bench/run.sh [RUNS]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build-bench"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target byed bench_core >/dev/null
"$build/tests/bench/bench_core" "$build/byed" "${1:-300}"
