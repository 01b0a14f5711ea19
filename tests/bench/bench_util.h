// bench_util.h — what the benchmark programs share: a clock and percentiles.
#pragma once

#include <time.h>

#include <algorithm>
#include <vector>

namespace bench {

// CLOCK_MONOTONIC in microseconds.
inline double now_us() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

// The p-quantile (0..1) of v, nearest rank.
inline double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * (v.size() - 1) + 0.5)];
}

}  // namespace bench
