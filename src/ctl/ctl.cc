// ctl.cc — `byed ctl`: parse its command line, send one request over the
// control socket, print the answer.
#include "ctl.h"

#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "config.h"
#include "control_protocol.h"
#include "sys_error.h"

namespace byed {
namespace {

// Waits until fd has `events` or the deadline passes: >0 ready, 0 timed out,
// <0 error. EINTR is retried against the same deadline.
int poll_until(int fd, short events,
               std::chrono::steady_clock::time_point deadline) {
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) return 0;
    pollfd p{fd, events, 0};
    int r = poll(&p, 1, static_cast<int>(std::min<long long>(left, 1 << 30)));
    if (r < 0 && errno == EINTR) continue;
    if (r != 0) return r;
  }
}

// send(2) all of data on a blocking socket, without SIGPIPE.
bool send_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// A `_s` field (seconds, a number) as a duration for people: "1m12s",
// "448ms"; whole seconds only when `whole_seconds`. "-" when absent.
std::string seconds_text(const nlohmann::json& j, bool whole_seconds) {
  if (!j.is_number()) return "-";
  long long ms = std::llround(j.get<double>() * 1000);
  if (whole_seconds) ms -= ms % 1000;
  return format_duration(Millis{ms});
}

}  // namespace

std::string find_control_path(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* e = getenv("BYED_CONTROL"); e && *e) return e;
  if (const char* r = getenv("RUNTIME_DIRECTORY"); r && *r) {
    std::string dir = r;
    dir = dir.substr(0, dir.find(':'));  // systemd may list several
    return dir + "/byed.sock";
  }
  return "";
}

bool control_call(const std::string& path, const nlohmann::json& request,
                  std::chrono::milliseconds timeout, nlohmann::json* reply,
                  std::string* err, UniqueFd* fd_out) {
  sockaddr_un su{};
  su.sun_family = AF_UNIX;
  if (path.size() >= sizeof su.sun_path)
    return fail(err, path + ": path too long");
  memcpy(su.sun_path, path.data(), path.size());
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fail(err, sys_error("socket"));
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&su), sizeof su) != 0) {
    return fail(err, sys_error("connect " + path) +
                         " (is byed running with --control " + path + "?)");
  }
  nlohmann::json req = request;
  req["v"] = kControlVersion;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string send_error;
  if (!send_all(fd.get(), control_line(req))) {
    // byed may have refused us and closed at once; its reason is waiting
    // to be read.
    send_error = "send to " + path + ": " + strerror(errno);
    deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  }
  std::string in;
  while (in.find('\n') == std::string::npos) {
    int r = poll_until(fd.get(), POLLIN, deadline);
    if (r == 0) return fail(err, "no answer within the timeout");
    if (r < 0) return fail(err, sys_error("poll"));
    char buf[4096];
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return fail(
          err, send_error.empty() ? "byed closed the connection" : send_error);
    }
    in.append(buf, static_cast<size_t>(n));
  }
  *reply = nlohmann::json::parse(in.substr(0, in.find('\n')), nullptr, false);
  if (reply->is_discarded()) return fail(err, "malformed reply");
  if (fd_out != nullptr) *fd_out = std::move(fd);
  return true;
}

bool wait_closed(int fd, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (true) {
    int r = poll_until(fd, POLLIN, deadline);
    if (r == 0) return false;
    if (r < 0) return true;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return true;
  }
}

std::string format_status(const nlohmann::json& s) {
  auto str = [](const nlohmann::json& j) -> std::string {
    if (j.is_null()) return "-";
    if (j.is_string()) return j.get<std::string>();
    return j.dump();
  };
  std::string out;
  out += "byed pid " + str(s.value("pid", nlohmann::json())) + ", up " +
         seconds_text(s.value("uptime_s", nlohmann::json()), true) + ", " +
         (s.contains("phase")          ? str(s["phase"])
          : s.value("stopping", false) ? std::string("stopping")
                                       : std::string("running")) +
         "\n\n";
  // A table: each line its cells, padded to the column's width (the last
  // one as it is).
  auto table = [&out](const std::vector<int>& widths,
                      const std::vector<std::vector<std::string>>& rows) {
    for (const auto& cells : rows) {
      std::string line;
      for (size_t i = 0; i < cells.size(); ++i) {
        line += cells[i];
        if (i + 1 == cells.size()) break;
        line.append(std::max<size_t>(widths[i] + 1, cells[i].size() + 1) -
                        cells[i].size(),
                    ' ');
      }
      out += line + "\n";
    }
  };
  std::vector<std::vector<std::string>> gens{
      {"GEN", "PID", "STATE", "STARTED", "READY"}};
  std::vector<std::vector<std::string>> workers{
      {"GEN", "WORKER", "PID", "STATE", "RESTARTS"}};
  for (const auto& g : s.value("generations", nlohmann::json::array())) {
    gens.push_back({str(g["gen"]), str(g["pid"]), str(g["state"]),
                    str(g["started_at"]), str(g["ready_at"])});
    for (const auto& w : g.value("workers", nlohmann::json::array())) {
      workers.push_back({str(g["gen"]), str(w["index"]), str(w["pid"]),
                         str(w["state"]), str(w["restarts"])});
    }
  }
  table({5, 8, 9, 26}, gens);
  if (s.contains("workers")) {
    out += "\nworkers: " + str(s["workers"]) + "\n";
    table({5, 7, 8, 11}, workers);
  }
  auto socks = s.value("sockets", nlohmann::json::array());
  if (!socks.empty()) {
    std::vector<std::vector<std::string>> rows{{"FD", "NAME", "ADDRESS"}};
    for (const auto& k : socks) {
      rows.push_back({str(k["fd"]), str(k["name"]), str(k["address"])});
    }
    out += "\n";
    table({4, 12}, rows);
  }
  auto restarts = s.value("restarts", nlohmann::json());
  if (restarts.is_object() && restarts.value("count", 0) > 0) {
    out += "\nrestarts: " + str(restarts["count"]) +
           ", last: " + str(restarts["last_reason"]);
    if (!restarts["next_attempt"].is_null()) {
      out += ", next at " + str(restarts["next_attempt"]);
    }
    out += "\n";
  }
  auto last = s.value("last_upgrade", nlohmann::json());
  out += "\nlast upgrade: ";
  if (last.is_null()) {
    out += "none\n";
  } else {
    out += str(last["result"]) + " (gen " + str(last["gen"]) + ", " +
           seconds_text(last.value("duration_s", nlohmann::json()), false) +
           ")";
    if (last.contains("reason") && !last["reason"].is_null()) {
      out += ": " + str(last["reason"]);
    }
    out += "\n";
  }
  return out;
}

int ctl_main(int argc, char** argv) {
  CLI::App app{"byed ctl: talk to a running byed over its control socket",
               "byed ctl"};
  std::string control, command, count_text, timeout_text = "2m";
  bool json = false;
  app.add_option("--control", control,
                 "control socket (default: $BYED_CONTROL, else "
                 "$RUNTIME_DIRECTORY/byed.sock)")
      ->type_name("PATH");
  app.add_flag("--json", json, "print the raw JSON reply");
  app.add_option("--timeout", timeout_text,
                 "how long to wait for the answer (upgrade, stop)")
      ->type_name("DUR")
      ->capture_default_str();
  app.add_option("command", command,
                 "status, upgrade, stop, or workers N (with --workers: run N "
                 "workers from now on)")
      ->required()
      ->check(CLI::IsMember({"status", "upgrade", "stop", "workers"}));
  app.add_option("count", count_text, "N, for workers");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "byed ctl: %s (see 'byed ctl --help')\n", e.what());
    return 2;
  }
  auto timeout = parse_duration(timeout_text);
  if (!timeout || timeout->count() == 0) {
    std::fprintf(stderr, "byed ctl: --timeout '%s': not a duration\n",
                 timeout_text.c_str());
    return 2;
  }
  std::string err;
  nlohmann::json request = {{"cmd", command}};
  if (command == "workers") {
    int n = 0;
    if (!parse_count_option("workers", count_text, &n, &err) || n < 1 ||
        n > 10000) {
      std::fprintf(stderr,
                   "byed ctl: workers '%s': a number of workers (1 or more)\n",
                   count_text.c_str());
      return 2;
    }
    request["count"] = n;
  } else if (!count_text.empty()) {
    std::fprintf(stderr, "byed ctl: %s takes no argument ('%s')\n",
                 command.c_str(), count_text.c_str());
    return 2;
  }
  std::string path = find_control_path(control);
  if (path.empty()) {
    std::fprintf(
        stderr,
        "byed ctl: no control socket: use --control PATH or "
        "BYED_CONTROL, or run byed under systemd with "
        "RuntimeDirectory= and --control $RUNTIME_DIRECTORY/byed.sock\n");
    return 2;
  }
  UniqueFd conn;
  nlohmann::json reply;
  if (!control_call(path, request, *timeout, &reply, &err,
                    command == "stop" ? &conn : nullptr)) {
    std::fprintf(stderr, "byed ctl: %s\n", err.c_str());
    return 1;
  }
  bool ok = reply.value("ok", false);
  if (json) std::printf("%s\n", reply.dump().c_str());
  if (!ok && reply.contains("error")) {
    std::fprintf(stderr, "byed ctl: %s\n",
                 reply["error"].get<std::string>().c_str());
    return 1;
  }
  if (command == "status") {
    if (!json) std::printf("%s", format_status(reply).c_str());
    return 0;
  }
  if (command == "upgrade") {
    if (ok) {
      if (!json) {
        std::printf("upgraded: gen %d, pid %d\n", reply.value("gen", 0),
                    reply.value("pid", 0));
      }
      return 0;
    }
    std::fprintf(stderr, "upgrade failed: %s\n",
                 reply.value("reason", std::string("unknown")).c_str());
    return 1;
  }
  if (command == "workers") {
    if (!json) std::printf("workers: %d ready\n", reply.value("workers", 0));
    return 0;
  }
  // stop: byed closes the connection when it exits.
  if (!wait_closed(conn.get(), *timeout)) {
    std::fprintf(stderr, "byed ctl: byed still running after %s\n",
                 timeout_text.c_str());
    return 1;
  }
  if (!json) std::printf("stopped\n");
  return 0;
}

}  // namespace byed
