// Tests of the control socket: the protocol's lines (control_protocol.h),
// the server's output bound against a real socket (control_server.h), and
// the `byed ctl` client's pieces (ctl.h).
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "control_protocol.h"
#include "control_server.h"
#include "ctl.h"
#include "test_util.h"

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
  c.ready.automatic = false;
  c.ready.message = true;
  Supervisor core(c);
  timespec t0{1000, 0}, t1{1002, 500000000}, t2{1003, 0};
  core.on(Start{}, t0);
  core.on(Spawned{1, 100, ""}, t0);
  core.on(ChildReady{1, "pipe"}, t1);
  core.on(SignalReceived{SIGUSR1}, t1);
  core.on(Spawned{2, 200, ""}, t1);
  core.on(ChildExited{200, 1 << 8}, t2);
  StatusContext ctx{7, t0, timespec{1065, 250000000}, nullptr};
  auto s = status_reply(core.status(), ctx);
  CHECK(s["pid"] == 7);
  CHECK(s["uptime_s"] == 65.25);
  REQUIRE(s["generations"].size() == 1);
  CHECK(s["generations"][0]["state"] == "ready");
  CHECK(s["generations"][0]["started_at"] == "1970-01-01T00:16:40.000Z");
  CHECK(s["generations"][0]["ready_at"] == "1970-01-01T00:16:42.500Z");
  CHECK(s["last_upgrade"]["result"] == "failed");
  CHECK(s["last_upgrade"]["gen"] == 2);
  CHECK(s["last_upgrade"]["duration_s"] == 0.5);
  CHECK(s["last_upgrade"]["reason"] ==
        "exited before it was ready (exit code 1)");
}

// Every field of a status object whose key says its type: numbers for
// pids, generations, counts and fds; a number of seconds for each `_s`.
void check_types(const nlohmann::json& j, const std::string& where) {
  if (j.is_array()) {
    for (const auto& e : j) check_types(e, where + "[]");
    return;
  }
  if (!j.is_object()) return;
  for (const auto& [key, value] : j.items()) {
    CAPTURE(where + "." + key);
    if (key == "pid" || key == "gen" || key == "count" || key == "fd" ||
        key == "v") {
      CHECK(value.is_number_integer());
    }
    if (key.size() > 2 && key.compare(key.size() - 2, 2, "_s") == 0) {
      CHECK(value.is_number());
    }
    check_types(value, where + "." + key);
  }
}

TEST_CASE("status JSON: numbers are numbers, durations are _s seconds") {
  Config c;
  c.command = {"./srv"};
  c.ready.automatic = false;
  c.ready.message = true;
  c.restart = RestartPolicy::kAlways;
  Supervisor core(c);
  timespec t0{1000, 0}, t1{1001, 0};
  core.on(Start{}, t0);
  core.on(Spawned{1, 100, ""}, t0);
  core.on(ChildReady{1, "pipe"}, t0);
  core.on(SignalReceived{SIGUSR1}, t0);
  core.on(Spawned{2, 200, ""}, t0);
  core.on(ChildReady{2, "pipe"}, t1);
  core.on(ChildExited{200, SIGSEGV}, t1);  // the new one crashes: a restart
  std::vector<HeldSocket> socks(1);
  socks[0].name = "web";
  auto s = status_reply(core.status(), StatusContext{7, t0, t1, &socks});
  REQUIRE(s["last_upgrade"].is_object());
  REQUIRE(s["restarts"]["count"] == 1);
  REQUIRE_FALSE(s["generations"].empty());
  REQUIRE(s["sockets"].size() == 1);
  CHECK(s["uptime_s"] == 1);
  CHECK(s["last_upgrade"]["duration_s"] == 1);
  check_types(s, "status");
  // No duration is left as text.
  CHECK_FALSE(s.contains("uptime"));
  CHECK_FALSE(s["last_upgrade"].contains("duration"));
}

TEST_CASE("status renders as a table, tolerating missing fields") {
  nlohmann::json s = {
      {"pid", 10},
      {"uptime_s", 72.9},
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
        {"duration_s", 0.448},
        {"reason", "not ready within 2s"}}}};
  std::string t = format_status(s);
  CHECK(t.find("byed pid 10, up 1m12s, running") != std::string::npos);
  CHECK(t.find("2     22       ready") != std::string::npos);
  CHECK(t.find("web") != std::string::npos);
  CHECK(t.find("last upgrade: failed (gen 3, 448ms): not ready within 2s") !=
        std::string::npos);
  CHECK_NOTHROW(format_status(nlohmann::json::object()));
  CHECK(format_status(nlohmann::json::object()).find("up -,") !=
        std::string::npos);
  // A byed that says its phase shows it; workers get their own table.
  s["phase"] = "upgrading";
  s["workers"] = 2;
  s["generations"][0]["workers"] = {
      {{"index", 0}, {"pid", 22}, {"state", "ready"}, {"restarts", 0}},
      {{"index", 1}, {"pid", 23}, {"state", "restarting"}, {"restarts", 4}}};
  t = format_status(s);
  CHECK(t.find("byed pid 10, up 1m12s, upgrading") != std::string::npos);
  CHECK(t.find("workers: 2\nGEN   WORKER  PID      STATE       RESTARTS\n") !=
        std::string::npos);
  CHECK(t.find("2     1       23       restarting  4\n") != std::string::npos);
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

// ---- the server's output buffer, against a real socket --------------------

namespace {

// A ControlServer on a loop of its own, one client connected to it, and a
// request handler that answers each request with a ~1 KiB line numbered n.
struct ServerWithClient {
  test::TempDir dir;
  uv_loop_t loop{};
  std::unique_ptr<ControlServer> server;
  std::vector<std::string> notes;
  int handled = 0;
  int refused = 0;  // replies reply() said were not queued
  UniqueFd client;

  explicit ServerWithClient(size_t max_pending) {
    REQUIRE(uv_loop_init(&loop) == 0);
    server = std::make_unique<ControlServer>(
        &loop,
        [this](const ControlRequest& req) {
          const ConnId id = req.conn;
          nlohmann::json line = {{"v", 1},
                                 {"ok", true},
                                 {"n", handled++},
                                 {"pad", std::string(1000, 'x')}};
          if (!server->reply(id, line)) ++refused;
        },
        [this](const std::string& note) { notes.push_back(note); },
        max_pending);
    std::string path = dir.path + "/c.sock", err;
    REQUIRE_MESSAGE(server->listen(path, &err), err);
    client = UniqueFd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un su{};
    su.sun_family = AF_UNIX;
    memcpy(su.sun_path, path.data(), path.size());
    REQUIRE(connect(client.get(), reinterpret_cast<sockaddr*>(&su),
                    sizeof su) == 0);
    timeval tv{10, 0};  // a read that would hang fails the test instead
    setsockopt(client.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    REQUIRE(run_until([this] { return server->connections() == 1; }));
  }

  ~ServerWithClient() {
    server.reset();
    uv_run(&loop, UV_RUN_DEFAULT);  // the handles' close callbacks
    uv_loop_close(&loop);
  }

  // Runs the loop until done(), or false after 10 s.
  bool run_until(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      pollfd p{uv_backend_fd(&loop), POLLIN, 0};
      poll(&p, 1, 10);
      uv_run(&loop, UV_RUN_NOWAIT);
    }
    return true;
  }

  void send_requests(int n) {
    std::string lines;
    for (int i = 0; i < n; ++i) lines += "{\"v\":1,\"cmd\":\"status\"}\n";
    REQUIRE(write(client.get(), lines.data(), lines.size()) ==
            static_cast<ssize_t>(lines.size()));
  }

  int readable_bytes() {
    int n = 0;
    REQUIRE(ioctl(client.get(), FIONREAD, &n) == 0);
    return n;
  }
};

// The numbers of the whole lines in `in`, which must be 0, 1, 2, ...
int count_in_order(const std::string& in) {
  int n = 0;
  size_t start = 0, nl;
  while ((nl = in.find('\n', start)) != std::string::npos) {
    auto j = nlohmann::json::parse(in.substr(start, nl - start));
    REQUIRE(j["n"] == n);
    ++n;
    start = nl + 1;
  }
  return n;
}

}  // namespace

TEST_CASE("server: replies a client does not read yet wait, then all arrive") {
  ServerWithClient t(1024 * 1024);
  constexpr int kRequests = 400;  // ~400 KB of replies: more than the socket
  t.send_requests(kRequests);
  // Every request is answered without waiting for the client.
  REQUIRE(t.run_until([&] { return t.handled == kRequests; }));
  CHECK(t.refused == 0);
  CHECK(t.notes.empty());
  CHECK(t.server->connections() == 1);
  // The socket holds only part of the answers; byed holds the rest.
  CHECK(t.readable_bytes() < kRequests * 1000);
  // As the client reads, the rest follows, whole and in order.
  std::string in;
  REQUIRE(t.run_until([&] {
    char buf[65536];
    ssize_t n = recv(t.client.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) in.append(buf, static_cast<size_t>(n));
    return std::count(in.begin(), in.end(), '\n') == kRequests;
  }));
  CHECK(count_in_order(in) == kRequests);
  CHECK(t.server->connections() == 1);
}

TEST_CASE("server: a client past the output bound is dropped, with one note") {
  ServerWithClient t(16 * 1024);
  constexpr int kRequests = 2000;  // ~2 MB of replies, never read
  t.send_requests(kRequests);
  REQUIRE(t.run_until([&] { return !t.notes.empty(); }));
  REQUIRE(t.notes.size() == 1);
  CHECK(t.notes[0].find("control: dropped a client that does not read its "
                        "replies") != std::string::npos);
  CHECK(t.notes[0].find("limit 16384") != std::string::npos);
  CHECK(t.server->connections() == 0);
  CHECK(t.handled < kRequests);  // nothing more was read from it
  CHECK(t.refused == 1);         // the reply that passed the bound
  // The client gets what the socket held, in order, then the end.
  std::string in;
  char buf[65536];
  ssize_t n;
  while ((n = read(t.client.get(), buf, sizeof buf)) > 0) {
    in.append(buf, static_cast<size_t>(n));
  }
  CHECK((n == 0 || errno == ECONNRESET));
  std::string whole = in.substr(0, in.rfind('\n') + 1);
  int got = count_in_order(whole);
  CHECK(got > 0);
  CHECK(got < t.handled);
  CHECK(t.notes.size() == 1);
}

TEST_CASE("server: the socket appears at its path only once it listens") {
  ServerWithClient s(1 << 20);  // connected as soon as listen() returned
  // Bound under a name of its own first, then renamed into place: nothing
  // else is left in the directory.
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(s.dir.path)) {
    names.push_back(e.path().filename().string());
  }
  CHECK(names == std::vector<std::string>{"c.sock"});
  struct stat st {};
  REQUIRE(lstat((s.dir.path + "/c.sock").c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0600);
}
