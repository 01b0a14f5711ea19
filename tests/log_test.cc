#include "log.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

using byed::LogFormat;
using byed::Logger;
using byed::LogLevel;
using byed::LogRecord;

TEST_CASE(
    "text lines carry the --name tag, pid, generation and quoted fields") {
  Logger l(LogFormat::kText, LogLevel::kInfo, 42, "srv");
  CHECK(l.format(LogRecord{LogLevel::kInfo, 3, "started", {{"pid", "7"}}}) ==
        "srv[42]: gen=3 started pid=7\n");
  CHECK(l.format(LogRecord{LogLevel::kError, 0, "cannot run", {}}) ==
        "srv[42]: error: cannot run\n");
  CHECK(l.format(LogRecord{LogLevel::kInfo, 0, "x", {{"k", "a b"}}}) ==
        "srv[42]: x k=\"a b\"\n");
  CHECK(l.format(LogRecord{LogLevel::kInfo, 0, "x", {{"k", ""}}}) ==
        "srv[42]: x k=\"\"\n");
  CHECK(l.format(LogRecord{LogLevel::kInfo, 0, "x", {{"k", "a\nb"}}}) ==
        "srv[42]: x k=\"a\\nb\"\n");
}

TEST_CASE("json lines are one valid object each") {
  Logger l(LogFormat::kJson, LogLevel::kInfo, 42, "srv");
  std::string line =
      l.format(LogRecord{LogLevel::kWarn, 2, "slow", {{"pid", "9"}}});
  REQUIRE(line.back() == '\n');
  CHECK(line.find('\n') == line.size() - 1);
  auto j = nlohmann::json::parse(line);
  CHECK(j["level"] == "warn");
  CHECK(j["byed_pid"] == 42);
  CHECK(j["name"] == "srv");
  CHECK(j["gen"] == 2);
  CHECK(j["msg"] == "slow");
  CHECK(j["pid"] == 9);  // numbers as numbers
  // Durations in seconds under NAME_s; a status that is no number stays text.
  j = nlohmann::json::parse(l.format(LogRecord{LogLevel::kWarn,
                                               1,
                                               "restarting",
                                               {{"in", "1m30s"},
                                                {"restart", "3"},
                                                {"status", "exit code 1"},
                                                {"reason", "7"}}}));
  CHECK(j["in_s"] == 90.0);
  CHECK_FALSE(j.contains("in"));
  CHECK(j["restart"] == 3);
  CHECK(j["status"] == "exit code 1");
  CHECK(j["reason"] == "7");  // not a count: stays a string
  j = nlohmann::json::parse(
      l.format(LogRecord{LogLevel::kInfo, 0, "exiting", {{"status", "143"}}}));
  CHECK(j["status"] == 143);
  CHECK(j["time"].get<std::string>().back() == 'Z');
  // Invalid UTF-8 from a program name must not throw.
  CHECK_NOTHROW(l.format(LogRecord{LogLevel::kInfo, 0, "bad \xff", {}}));
}

TEST_CASE("levels filter") {
  Logger quiet(LogFormat::kText, LogLevel::kWarn, 1, "x");
  CHECK(quiet.enabled(LogLevel::kError));
  CHECK(quiet.enabled(LogLevel::kWarn));
  CHECK_FALSE(quiet.enabled(LogLevel::kInfo));
  Logger verbose(LogFormat::kText, LogLevel::kDebug, 1, "x");
  CHECK(verbose.enabled(LogLevel::kDebug));
}
