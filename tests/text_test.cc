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
