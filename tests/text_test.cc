// The text helpers the core and the shell share: the splitter and the one
// timestamp format of logs, markers and status.
#include "text.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using byed::rfc3339;
using byed::split;

TEST_CASE("split keeps every field, empty ones too") {
  using V = std::vector<std::string_view>;
  CHECK(split("a,b,,c", ',') == V{"a", "b", "", "c"});
  CHECK(split("", ',') == V{""});
  CHECK(split(",", ',') == V{"", ""});
  CHECK(split("a:b", ',') == V{"a:b"});
}

TEST_CASE("rfc3339: UTC, with milliseconds or microseconds") {
  timespec ts{};
  ts.tv_sec = 1795395723;  // 2026-11-23T01:02:03Z
  ts.tv_nsec = 456789012;
  CHECK(rfc3339(ts, 3) == "2026-11-23T01:02:03.456Z");
  CHECK(rfc3339(ts, 6) == "2026-11-23T01:02:03.456789Z");
  CHECK(rfc3339(ts, 9) == "2026-11-23T01:02:03.456789012Z");
  ts.tv_sec = 0;
  ts.tv_nsec = 7000000;  // leading zeros of the fraction are kept
  CHECK(rfc3339(ts, 3) == "1970-01-01T00:00:00.007Z");
  CHECK(rfc3339(ts, 6) == "1970-01-01T00:00:00.007000Z");
}

TEST_CASE("rfc3339: the date across leap days, centuries and before 1970") {
  // Expected values from `date -u -d @SECONDS +%FT%T`.
  struct Case {
    long long secs;
    const char* text;
  };
  const Case cases[] = {
      {951782400, "2000-02-29T00:00:00.000Z"},  // leap day of a 400-year
      {951868799, "2000-02-29T23:59:59.000Z"},
      {951868800, "2000-03-01T00:00:00.000Z"},
      {1709164800, "2024-02-29T00:00:00.000Z"},
      {1735689599, "2024-12-31T23:59:59.000Z"},  // day 366
      {4107542400, "2100-03-01T00:00:00.000Z"},  // 2100 has no Feb 29
      {4107542399, "2100-02-28T23:59:59.000Z"},
      {-1, "1969-12-31T23:59:59.000Z"},
      {-86400, "1969-12-31T00:00:00.000Z"},
      {-2208988800, "1900-01-01T00:00:00.000Z"},
      {253402300799, "9999-12-31T23:59:59.000Z"},
  };
  for (const Case& c : cases) {
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(c.secs);
    CHECK(rfc3339(ts, 3) == c.text);
  }
}
