#include "control.h"

#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace byed {
namespace {

constexpr uint64_t kIdleMs = 30000;

std::string line_of(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
         "\n";
}

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

// send(2) all of data to a socket peer: no SIGPIPE, and a non-blocking
// socket that is full is waited on briefly.
bool send_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      // A reply is a few hundred bytes; a peer that does not read even that
      // is waited for briefly, then dropped.
      auto deadline =
          std::chrono::steady_clock::now() + std::chrono::seconds(1);
      if (poll_until(fd, POLLOUT, deadline) <= 0) return false;
      continue;
    }
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

nlohmann::json time_or_null(const timespec& ts) {
  if (ts.tv_sec == 0 && ts.tv_nsec == 0) return nullptr;
  return rfc3339(ts, 3);
}

long long millis_between(const timespec& a, const timespec& b) {
  return (static_cast<long long>(b.tv_sec) - a.tv_sec) * 1000 +
         (b.tv_nsec - a.tv_nsec) / 1000000;
}

const char* state_name(Supervisor::GenState s) {
  switch (s) {
    case Supervisor::GenState::kStarting:
      return "starting";
    case Supervisor::GenState::kReady:
      return "ready";
    case Supervisor::GenState::kDraining:
      return "draining";
    case Supervisor::GenState::kExited:
      break;
  }
  return "exited";
}

}  // namespace

bool parse_control_request(const std::string& line, Command* cmd,
                           std::string* err) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    *err = "malformed request: expected one JSON object per line";
    return false;
  }
  auto v = j.find("v");
  if (v != j.end() && (!v->is_number_integer() || *v != kControlVersion)) {
    *err = "unsupported protocol version (this byed speaks v1)";
    return false;
  }
  auto c = j.find("cmd");
  if (c == j.end() || !c->is_string()) {
    *err = "missing \"cmd\"";
    return false;
  }
  const std::string& name = c->get_ref<const std::string&>();
  if (name == "status") {
    *cmd = Command::kStatus;
  } else if (name == "upgrade") {
    *cmd = Command::kUpgrade;
  } else if (name == "stop") {
    *cmd = Command::kStop;
  } else {
    *err = "unknown command '" + name + "' (status, upgrade, stop)";
    return false;
  }
  return true;
}

nlohmann::json control_error(const std::string& message) {
  return {{"v", kControlVersion}, {"ok", false}, {"error", message}};
}

nlohmann::json upgrade_reply(const UpgradeResult& r) {
  nlohmann::json reply = {{"v", kControlVersion}, {"ok", r.ok}, {"gen", r.gen}};
  if (r.ok) {
    reply["pid"] = r.pid;
  } else {
    reply["reason"] = r.reason;
  }
  return reply;
}

nlohmann::json stopping_reply() {
  return {{"v", kControlVersion}, {"ok", true}, {"stopping", true}};
}

nlohmann::json status_reply(const Supervisor& core, const StatusContext& ctx) {
  nlohmann::json gens = nlohmann::json::array();
  for (const auto& g : core.generations()) {
    if (g.state == Supervisor::GenState::kExited) continue;
    gens.push_back({{"gen", g.num},
                    {"pid", g.pid},
                    {"state", state_name(g.state)},
                    {"current", g.num == core.current()},
                    {"started_at", time_or_null(g.started_at)},
                    {"ready_at", time_or_null(g.ready_at)}});
  }
  nlohmann::json socks = nlohmann::json::array();
  if (ctx.sockets != nullptr) {
    for (size_t i = 0; i < ctx.sockets->size(); ++i) {
      const HeldSocket& s = (*ctx.sockets)[i];
      socks.push_back({{"fd", 3 + i},
                       {"name", s.name},
                       {"address", s.address},
                       {"from", s.from_systemd ? "systemd" : "listen"}});
    }
  }
  nlohmann::json last;
  if (const auto& u = core.last_upgrade()) {
    last = {{"result", u->ok ? "succeeded" : "failed"},
            {"gen", u->gen},
            {"reason", u->ok ? nlohmann::json() : nlohmann::json(u->reason)},
            {"duration", format_duration(Millis{
                             millis_between(u->started_at, u->finished_at)})},
            {"finished_at", time_or_null(u->finished_at)}};
  }
  const auto& r = core.restarts();
  nlohmann::json restarts = {
      {"count", r.count},
      {"last_reason", r.last_reason.empty() ? nlohmann::json()
                                            : nlohmann::json(r.last_reason)},
      {"next_attempt",
       r.next_at ? nlohmann::json(rfc3339(*r.next_at, 3)) : nlohmann::json()}};
  long long up = millis_between(ctx.started_at, ctx.now);
  return {{"v", kControlVersion},
          {"ok", true},
          {"pid", ctx.pid},
          {"started_at", rfc3339(ctx.started_at, 3)},
          {"uptime", format_duration(Millis{up - up % 1000})},
          {"stopping", core.stopping()},
          {"upgrading", core.upgrading() != 0},
          {"generations", gens},
          {"sockets", socks},
          {"last_upgrade", last},
          {"restarts", restarts}};
}

// ---- server -----------------------------------------------------------------

struct ControlServer::Conn {
  ControlServer* server = nullptr;
  ConnId id = 0;
  UniqueFd fd;
  UvHandle<uv_poll_t> poll;
  UvHandle<uv_timer_t> idle;
  std::string in;
  bool waiting = false;
};

ControlServer::ControlServer(uv_loop_t* loop, RequestFn on_request,
                             NoteFn on_note)
    : loop_(loop),
      on_request_(std::move(on_request)),
      on_note_(std::move(on_note)) {}

ControlServer::~ControlServer() {
  conns_.clear();
  backoff_.reset();
  poll_.reset();
  file_.unlink_if_ours();
}

bool ControlServer::listen(const std::string& path, std::string* err) {
  std::string what = "control " + path;
  if (!bind_unix_socket(path, what, SOCK_STREAM, 0600, &fd_, err)) {
    return false;
  }
  if (::listen(fd_.get(), 64) != 0) {
    *err = what + ": " + strerror(errno);
    return false;
  }
  file_.remember(path);
  int rc = poll_.init(uv_poll_init, loop_, this, fd_.get());
  if (rc == 0) rc = backoff_.init(uv_timer_init, loop_, this);
  if (rc != 0) {
    *err = what + ": " + uv_strerror(rc);
    return false;
  }
  return watch_listener(err);
}

bool ControlServer::watch_listener(std::string* err) {
  int rc = uv_poll_start(poll_.get(), UV_READABLE, [](uv_poll_t* h, int, int) {
    static_cast<ControlServer*>(h->data)->on_accept();
  });
  if (rc != 0) {
    *err = "control " + file_.path + ": " + uv_strerror(rc);
    return false;
  }
  return true;
}

void ControlServer::on_accept() {
  for (int i = 0; i < 16; ++i) {
    int cfd =
        accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        // Out of fds: the client waits in the backlog. Stop watching the
        // listening socket for a while, or it would stay readable and spin
        // the loop; try again in 100 ms.
        on_note_(std::string("control: accept: ") + strerror(errno) +
                 "; retrying in 100ms");
        uv_poll_stop(poll_.get());
        uv_timer_start(
            backoff_.get(),
            [](uv_timer_t* h) {
              auto* self = static_cast<ControlServer*>(h->data);
              std::string err;
              if (!self->watch_listener(&err)) self->on_note_(err);
            },
            100, 0);
      }
      return;
    }
    UniqueFd fd(cfd);
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
        (cred.uid != 0 && cred.uid != geteuid())) {
      send_all(cfd, line_of(control_error("permission denied: uid " +
                                          std::to_string(cred.uid) +
                                          " may not control this byed")));
      on_note_("control: rejected a client with uid " +
               std::to_string(cred.uid));
      continue;  // closed by UniqueFd
    }
    auto c = std::make_unique<Conn>();
    c->server = this;
    c->id = next_id_++;
    c->fd = std::move(fd);
    if (c->poll.init(uv_poll_init, loop_, c.get(), c->fd.get()) != 0 ||
        c->idle.init(uv_timer_init, loop_, c.get()) != 0 ||
        uv_poll_start(c->poll.get(), UV_READABLE, [](uv_poll_t* h, int, int) {
          auto* conn = static_cast<Conn*>(h->data);
          conn->server->on_readable(*conn);
        }) != 0) {
      continue;  // dropped: closed by its destructors
    }
    arm_idle(*c);
    conns_[c->id] = std::move(c);
  }
}

void ControlServer::arm_idle(Conn& c) {
  uv_timer_start(
      c.idle.get(),
      [](uv_timer_t* h) {
        auto* conn = static_cast<Conn*>(h->data);
        if (conn->waiting) return;
        conn->server->close_conn(conn->id);
      },
      kIdleMs, 0);
}

void ControlServer::on_readable(Conn& c) {
  ConnId id = c.id;
  char buf[4096];
  ssize_t n = ::read(c.fd.get(), buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    close_conn(id);
    return;
  }
  c.in.append(buf, static_cast<size_t>(n));
  size_t nl;
  while ((nl = c.in.find('\n')) != std::string::npos) {
    std::string line = c.in.substr(0, nl);
    c.in.erase(0, nl + 1);
    arm_idle(c);
    std::string error;
    Command cmd{};
    if (!parse_control_request(line, &cmd, &error)) {
      if (!reply(id, control_error(error))) return;
      continue;
    }
    c.waiting = true;      // until its answer, however long that takes
    on_request_(id, cmd);  // may reply, or close this connection
    if (conns_.find(id) == conns_.end()) return;
  }
  if (c.in.size() > kControlMaxLine) {
    reply(id, control_error("request line longer than 64 KiB"));
    close_conn(id);
  }
}

bool ControlServer::reply(ConnId id, const nlohmann::json& message,
                          bool keep_waiting) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return false;
  if (!send_all(it->second->fd.get(), line_of(message))) {
    close_conn(id);
    return false;
  }
  it->second->waiting = keep_waiting;
  if (!keep_waiting) arm_idle(*it->second);
  return true;
}

void ControlServer::close_conn(ConnId id) { conns_.erase(id); }

// ---- client -----------------------------------------------------------------

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

bool control_call(const std::string& path, const std::string& cmd,
                  std::chrono::milliseconds timeout, nlohmann::json* reply,
                  std::string* err, UniqueFd* fd_out) {
  auto fail = [err](std::string message) {
    *err = std::move(message);
    return false;
  };
  sockaddr_un su{};
  su.sun_family = AF_UNIX;
  if (path.size() >= sizeof su.sun_path) return fail(path + ": path too long");
  memcpy(su.sun_path, path.data(), path.size());
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fail(std::string("socket: ") + strerror(errno));
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&su), sizeof su) != 0) {
    return fail("connect " + path + ": " + strerror(errno) +
                " (is byed running with --control " + path + "?)");
  }
  nlohmann::json req = {{"v", kControlVersion}, {"cmd", cmd}};
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string send_error;
  if (!send_all(fd.get(), line_of(req))) {
    // byed may have refused us and closed at once; its reason is waiting
    // to be read.
    send_error = "send to " + path + ": " + strerror(errno);
    deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  }
  std::string in;
  while (in.find('\n') == std::string::npos) {
    int r = poll_until(fd.get(), POLLIN, deadline);
    if (r == 0) return fail("no answer within the timeout");
    if (r < 0) return fail(std::string("poll: ") + strerror(errno));
    char buf[4096];
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return fail(send_error.empty() ? "byed closed the connection"
                                     : send_error);
    }
    in.append(buf, static_cast<size_t>(n));
  }
  *reply = nlohmann::json::parse(in.substr(0, in.find('\n')), nullptr, false);
  if (reply->is_discarded()) return fail("malformed reply");
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
         str(s.value("uptime", nlohmann::json())) + ", " +
         (s.value("stopping", false) ? "stopping" : "running") + "\n\n";
  char line[256];
  snprintf(line, sizeof line, "%-5s %-8s %-9s %-26s %s\n", "GEN", "PID",
           "STATE", "STARTED", "READY");
  out += line;
  for (const auto& g : s.value("generations", nlohmann::json::array())) {
    snprintf(line, sizeof line, "%-5s %-8s %-9s %-26s %s\n",
             str(g["gen"]).c_str(), str(g["pid"]).c_str(),
             str(g["state"]).c_str(), str(g["started_at"]).c_str(),
             str(g["ready_at"]).c_str());
    out += line;
  }
  auto socks = s.value("sockets", nlohmann::json::array());
  if (!socks.empty()) {
    out += "\n";
    snprintf(line, sizeof line, "%-4s %-12s %s\n", "FD", "NAME", "ADDRESS");
    out += line;
    for (const auto& k : socks) {
      snprintf(line, sizeof line, "%-4s %-12s %s\n", str(k["fd"]).c_str(),
               str(k["name"]).c_str(), str(k["address"]).c_str());
      out += line;
    }
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
           str(last["duration"]) + ")";
    if (last.contains("reason") && !last["reason"].is_null()) {
      out += ": " + str(last["reason"]);
    }
    out += "\n";
  }
  return out;
}

}  // namespace byed
