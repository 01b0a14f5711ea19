// text.cc — the pure text helpers of text.h that need a body.
#include "text.h"

#include <stdio.h>
#include <time.h>

namespace byed {

std::string rfc3339(const timespec& ts, int fraction_digits) {
  tm utc{};
  gmtime_r(&ts.tv_sec, &utc);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  long frac = ts.tv_nsec;
  for (int i = fraction_digits; i < 9; ++i) frac /= 10;
  snprintf(buf + n, sizeof buf - n, ".%0*ldZ", fraction_digits, frac);
  return buf;
}

}  // namespace byed
