#include "control.h"

#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

#include "sockets.h"

namespace byed {
namespace {

constexpr uint64_t kIdleMs = 30000;

std::string line_of(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
         "\n";
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
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, 1000) <= 0) return false;
      continue;
    }
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

std::optional<ControlRequest> parse_control_request(const std::string& line,
                                                    std::string& error) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    error = "malformed request: expected one JSON object per line";
    return std::nullopt;
  }
  auto v = j.find("v");
  if (v != j.end() && (!v->is_number_integer() || *v != kControlVersion)) {
    error = "unsupported protocol version (this byed speaks v1)";
    return std::nullopt;
  }
  auto cmd = j.find("cmd");
  if (cmd == j.end() || !cmd->is_string()) {
    error = "missing \"cmd\"";
    return std::nullopt;
  }
  std::string c = cmd->get<std::string>();
  if (c != "status" && c != "upgrade" && c != "stop") {
    error = "unknown command '" + c + "' (status, upgrade, stop)";
    return std::nullopt;
  }
  return ControlRequest{c};
}

nlohmann::json control_error(const std::string& message) {
  return {{"v", kControlVersion}, {"ok", false}, {"error", message}};
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
  if (!path_.empty()) {
    struct stat st {};
    if (lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ &&
        st.st_ino == ino_) {
      unlink(path_.c_str());
    }
  }
}

void ControlServer::listen(const std::string& path) {
  fd_ = bind_unix_socket(path, "control " + path, SOCK_STREAM, 0600);
  if (::listen(fd_.get(), 64) != 0) {
    throw SocketError("control " + path + ": " + strerror(errno), 1);
  }
  path_ = path;
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    dev_ = st.st_dev;
    ino_ = st.st_ino;
  }
  int rc = poll_.init(uv_poll_init, loop_, this, fd_.get());
  if (rc == 0) rc = backoff_.init(uv_timer_init, loop_, this);
  if (rc != 0) throw SocketError("control " + path + ": " + uv_strerror(rc), 1);
  watch_listener();
}

void ControlServer::watch_listener() {
  uv_poll_start(poll_.get(), UV_READABLE, [](uv_poll_t* h, int, int) {
    static_cast<ControlServer*>(h->data)->on_accept();
  });
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
              self->watch_listener();
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
        c->idle.init(uv_timer_init, loop_, c.get()) != 0) {
      continue;  // dropped: closed by its destructors
    }
    uv_poll_start(c->poll.get(), UV_READABLE, [](uv_poll_t* h, int, int) {
      auto* conn = static_cast<Conn*>(h->data);
      conn->server->on_readable(*conn);
    });
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
    auto req = parse_control_request(line, error);
    if (!req) {
      if (!reply(id, control_error(error))) return;
      continue;
    }
    on_request_(id, *req);  // may reply, or close this connection
    if (conns_.find(id) == conns_.end()) return;
  }
  if (c.in.size() > kControlMaxLine) {
    reply(id, control_error("request line longer than 64 KiB"));
    close_conn(id);
  }
}

bool ControlServer::reply(ConnId id, const nlohmann::json& message) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return false;
  if (!send_all(it->second->fd.get(), line_of(message))) {
    close_conn(id);
    return false;
  }
  return true;
}

void ControlServer::set_waiting(ConnId id, bool waiting) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  it->second->waiting = waiting;
  if (!waiting) arm_idle(*it->second);
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

nlohmann::json control_call(const std::string& path, const std::string& cmd,
                            std::chrono::milliseconds timeout,
                            UniqueFd* fd_out) {
  sockaddr_un su{};
  su.sun_family = AF_UNIX;
  if (path.size() >= sizeof su.sun_path) {
    throw std::runtime_error(path + ": path too long");
  }
  memcpy(su.sun_path, path.data(), path.size());
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw std::runtime_error(std::string("socket: ") + strerror(errno));
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&su), sizeof su) != 0) {
    throw std::runtime_error("connect " + path + ": " + strerror(errno) +
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
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) throw std::runtime_error("no answer within the timeout");
    pollfd p{fd.get(), POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(std::min<long long>(left, 1 << 30)));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char buf[4096];
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      throw std::runtime_error(send_error.empty() ? "byed closed the connection"
                                                  : send_error);
    }
    in.append(buf, static_cast<size_t>(n));
  }
  nlohmann::json reply =
      nlohmann::json::parse(in.substr(0, in.find('\n')), nullptr, false);
  if (reply.is_discarded()) throw std::runtime_error("malformed reply");
  if (fd_out != nullptr) *fd_out = std::move(fd);
  return reply;
}

bool wait_closed(int fd, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(std::min<long long>(left, 1 << 30)));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
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
