// text.cc — the pure text helpers of text.h that need a body.
#include "text.h"

#include <stdio.h>

namespace byed {

namespace {

// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
// civil_from_days). byed computes the date itself instead of calling
// gmtime_r and strftime: in the static build those two link glibc's time
// zone code, and through it sscanf, for a UTC timestamp that needs neither.
void civil_from_days(long long z, long long* y, unsigned* m, unsigned* d) {
  z += 719468;
  const long long era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<long long>(yoe) + era * 400 + (*m <= 2);
}

}  // namespace

std::string rfc3339(const timespec& ts, int fraction_digits) {
  long long secs = ts.tv_sec;
  long long days = secs / 86400;
  long long rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  long long year;
  unsigned month, day;
  civil_from_days(days, &year, &month, &day);
  long frac = ts.tv_nsec;
  for (int i = fraction_digits; i < 9; ++i) frac /= 10;
  char buf[64];
  snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%0*ldZ",
           year, month, day, rem / 3600, rem / 60 % 60, rem % 60,
           fraction_digits, frac);
  return buf;
}

}  // namespace byed
