#!/usr/bin/env bash
# Builds byed in Release and runs the benchmarks side by side with tini and
# dumb-init (Debian packages; .ci/install-deps installs them).
#   tests/bench/run.sh [RUNS]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build-bench"
runs="${1:-300}"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=MinSizeRel -DBYED_BENCH=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target byed bench_core bench_exitdir \
  bench_probe >/dev/null
echo "== stripped binary size (bytes)"
strip -o "$build/byed.stripped" "$build/byed"
printf "%-12s %10s  %s\n" byed "$(stat -c %s "$build/byed.stripped")" \
  "$(ldd "$build/byed" 2>&1 | head -1 | sed 's/^[[:space:]]*//')"
if command -v tini-static >/dev/null; then
  printf "%-12s %10s  %s\n" tini-static "$(stat -c %s "$(command -v tini-static)")" \
    "$(ldd "$(command -v tini-static)" 2>&1 | head -1 | sed 's/^[[:space:]]*//')"
fi
echo
echo "== core: signal forwarding, start-to-exit, idle RSS"
"$build/tests/bench/bench_core" "$build/byed" "$runs"
echo
echo "== EXIT_DIR reaction time"
"$build/tests/bench/bench_exitdir" "$build/byed" "$runs"
echo
echo "== one accepting probe of a 5-process generation"
"$build/tests/bench/bench_probe" "$((runs * 10))"
echo
echo "== zero-downtime upgrades under wrk"
cmake --build "$build" -j"$(nproc)" --target byeserver >/dev/null
python3 "$root/tests/bench/bench_upgrade.py" "$build/byed" \
  "$build/tests/helpers/byeserver" "${BENCH_SECONDS:-20}" "${BENCH_UPGRADES:-100}"
echo
echo "== crash recovery: byed --restart vs a wrapper restarted by a loop"
python3 "$root/tests/bench/bench_restart.py" "$build/byed" \
  "$build/tests/helpers/byeserver" "${BENCH_CRASHES:-20}"
