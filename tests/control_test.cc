// Tests of the control socket: the protocol's lines (control_protocol.h)
// and the `byed ctl` client's pieces (ctl.h).
#include <doctest/doctest.h>
#include <signal.h>

#include "control_protocol.h"
#include "ctl.h"

using namespace byed;

TEST_CASE("control requests: the three commands, v1 or unversioned") {
  std::string err;
  struct {
    const char* name;
    Command cmd;
  } cases[] = {{"status", Command::kStatus},
               {"upgrade", Command::kUpgrade},
               {"stop", Command::kStop}};
  for (const auto& c : cases) {
    Command got{};
    REQUIRE(parse_control_request(
        std::string("{\"v\":1,\"cmd\":\"") + c.name + "\"}", &got, &err));
    CHECK(got == c.cmd);
  }
  Command got{};
  CHECK(parse_control_request("{\"cmd\":\"status\"}", &got, &err));
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
    Command cmd{};
    CHECK_FALSE(parse_control_request(c.line, &cmd, &err));
    CHECK(err.find(c.needle) != std::string::npos);
  }
  auto e = control_error("x");
  CHECK(e["ok"] == false);
  CHECK(e["v"] == 1);
  CHECK(e["error"] == "x");
}

TEST_CASE("replies: upgrade results and stopping") {
  UpgradeResult ok;
  ok.ok = true;
  ok.gen = 4;
  ok.pid = 40;
  auto j = upgrade_reply(ok);
  CHECK(j["ok"] == true);
  CHECK(j["gen"] == 4);
  CHECK(j["pid"] == 40);
  CHECK_FALSE(j.contains("reason"));
  UpgradeResult bad;
  bad.gen = 5;
  bad.reason = "not ready within 2s";
  j = upgrade_reply(bad);
  CHECK(j["ok"] == false);
  CHECK(j["reason"] == "not ready within 2s");
  CHECK(stopping_reply()["stopping"] == true);
}

TEST_CASE("status comes from the core: states, times, last upgrade") {
  Config c;
  c.command = {"./srv"};
  c.ready_mode = ReadyMode::kMessage;
  Supervisor core(c);
  timespec t0{1000, 0}, t1{1002, 500000000}, t2{1003, 0};
  core.on(Start{}, t0);
  core.on(Spawned{1, 100, ""}, t0);
  core.on(ChildReady{1, "pipe"}, t1);
  core.on(SignalReceived{SIGUSR1}, t1);
  core.on(Spawned{2, 200, ""}, t1);
  core.on(ChildExited{200, 1 << 8}, t2);
  StatusContext ctx{7, t0, timespec{1065, 0}, nullptr};
  auto s = status_reply(core, ctx);
  CHECK(s["pid"] == 7);
  CHECK(s["uptime"] == "1m5s");
  REQUIRE(s["generations"].size() == 1);
  CHECK(s["generations"][0]["state"] == "ready");
  CHECK(s["generations"][0]["started_at"] == "1970-01-01T00:16:40.000Z");
  CHECK(s["generations"][0]["ready_at"] == "1970-01-01T00:16:42.500Z");
  CHECK(s["last_upgrade"]["result"] == "failed");
  CHECK(s["last_upgrade"]["gen"] == 2);
  CHECK(s["last_upgrade"]["duration"] == "500ms");
  CHECK(s["last_upgrade"]["reason"] ==
        "exited before it was ready (exit code 1)");
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
