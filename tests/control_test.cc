#include "control.h"

#include <doctest/doctest.h>

using namespace byed;

TEST_CASE("control requests: the three commands, v1 or unversioned") {
  std::string err;
  for (const char* cmd : {"status", "upgrade", "stop"}) {
    auto r = parse_control_request(
        std::string("{\"v\":1,\"cmd\":\"") + cmd + "\"}", err);
    REQUIRE(r.has_value());
    CHECK(r->cmd == cmd);
  }
  CHECK(parse_control_request("{\"cmd\":\"status\"}", err).has_value());
}

TEST_CASE("control requests: everything else is an error with a reason") {
  struct Case {
    const char* line;
    const char* needle;
  } cases[] = {
      {"", "malformed"},
      {"nope", "malformed"},
      {"[]", "malformed"},
      {"\"status\"", "malformed"},
      {"{\"v\":1}", "missing"},
      {"{\"v\":1,\"cmd\":7}", "missing"},
      {"{\"v\":1,\"cmd\":\"reboot\"}", "unknown command 'reboot'"},
      {"{\"v\":2,\"cmd\":\"status\"}", "version"},
      {"{\"v\":\"1\",\"cmd\":\"status\"}", "version"},
      {"{\"v\":1,\"cmd\":\"status\"", "malformed"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.line);
    std::string err;
    CHECK_FALSE(parse_control_request(c.line, err).has_value());
    CHECK(err.find(c.needle) != std::string::npos);
  }
  auto e = control_error("x");
  CHECK(e["ok"] == false);
  CHECK(e["v"] == 1);
  CHECK(e["error"] == "x");
}

TEST_CASE("status renders as a table, tolerating missing fields") {
  nlohmann::json s = {
      {"pid", 10},
      {"uptime", "5s"},
      {"stopping", false},
      {"generations",
       {{{"gen", 2},
         {"pid", 22},
         {"state", "ready"},
         {"started_at", "2026-01-01T00:00:00.000Z"},
         {"ready_at", nullptr}}}},
      {"sockets", {{{"fd", 3}, {"name", "web"}, {"address", "[::]:80"}}}},
      {"last_upgrade",
       {{"result", "failed"},
        {"gen", 3},
        {"duration", "2s"},
        {"reason", "not ready within 2s"}}}};
  std::string t = format_status(s);
  CHECK(t.find("byed pid 10, up 5s, running") != std::string::npos);
  CHECK(t.find("2     22       ready") != std::string::npos);
  CHECK(t.find("web") != std::string::npos);
  CHECK(t.find("last upgrade: failed (gen 3, 2s): not ready within 2s") !=
        std::string::npos);
  CHECK_NOTHROW(format_status(nlohmann::json::object()));
}

TEST_CASE("ctl finds its socket: flag, then env, then RUNTIME_DIRECTORY") {
  setenv("BYED_CONTROL", "/env.sock", 1);
  setenv("RUNTIME_DIRECTORY", "/run/a:/run/b", 1);
  CHECK(find_control_path("/flag.sock") == "/flag.sock");
  CHECK(find_control_path("") == "/env.sock");
  unsetenv("BYED_CONTROL");
  CHECK(find_control_path("") == "/run/a/byed.sock");
  unsetenv("RUNTIME_DIRECTORY");
  CHECK(find_control_path("").empty());
}
