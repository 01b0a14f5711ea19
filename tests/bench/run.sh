#!/usr/bin/env bash
# Builds byed (static, MinSizeRel: the defaults) with the benchmarks and runs
# them side by side with tini, tini-static and dumb-init (Debian packages;
# .ci/install-deps installs them).
#   tests/bench/run.sh [RUNS]      everything
#   BENCH_ONLY=core tests/bench/run.sh [RUNS]   the one table of bench_core
#   BENCH_ONLY=ready tests/bench/run.sh         the one table of bench_ready
#   BENCH_ONLY=workers tests/bench/run.sh       the tables of bench_workers
# BENCH_BUILD: the build directory (default build-rel); bench_core also reads
# BENCH_CROWD, BENCH_ORPHANS, BENCH_ORPHAN_RUNS; bench_ready.py reads
# BENCH_READY_UPGRADES (and WARM_SECONDS); bench_workers.py reads
# BENCH_WORKERS_SECONDS (per run) and BENCH_ROUNDS.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="${BENCH_BUILD:-$root/build-rel}"
runs="${1:-300}"
cmake -S "$root" -B "$build" -DBYED_BENCH=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target byed bench_core bench_exitdir \
  bench_probe byeserver >/dev/null
ready_bench() {
  echo "== readiness: a server with a 2 s warm-up upgraded under a client loop"
  python3 "$root/tests/bench/bench_ready.py" "$build/byed" \
    "${BENCH_READY_UPGRADES:-3}"
}
workers_bench() {
  echo "== workers: copies of a single-threaded server on one held socket"
  python3 "$root/tests/bench/bench_workers.py" "$build/byed" \
    "${BENCH_WORKERS_SECONDS:-10}"
}
[ "${BENCH_ONLY:-}" = ready ] && { ready_bench; exit 0; }
[ "${BENCH_ONLY:-}" = workers ] && { workers_bench; exit 0; }
echo "== byed $(ldd "$build/byed" 2>&1 | head -1 | sed 's/^[[:space:]]*//')" \
  "vs tini, tini-static, dumb-init: signals, stop, orphans, start, footprint"
"$build/tests/bench/bench_core" "$build/byed" "$runs"
[ "${BENCH_ONLY:-}" = core ] && exit 0
echo
echo "== EXIT_DIR reaction time"
"$build/tests/bench/bench_exitdir" "$build/byed" "$runs"
echo
echo "== one accepting probe of a 5-process generation"
"$build/tests/bench/bench_probe" "$((runs * 10))"
echo
echo "== zero-downtime upgrades under wrk"
python3 "$root/tests/bench/bench_upgrade.py" "$build/byed" \
  "$build/tests/helpers/byeserver" "${BENCH_SECONDS:-20}" "${BENCH_UPGRADES:-100}"
echo
echo "== crash recovery: byed --restart vs a wrapper restarted by a loop"
python3 "$root/tests/bench/bench_restart.py" "$build/byed" \
  "$build/tests/helpers/byeserver" "${BENCH_CRASHES:-20}"
echo
ready_bench
echo
workers_bench
