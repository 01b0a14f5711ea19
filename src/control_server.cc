// control_server.cc — the control socket's listener and connections on the
// loop.
#include "control_server.h"

#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

namespace byed {
namespace {

constexpr uint64_t kIdleMs = 30000;

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

}  // namespace

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
      send_all(cfd, control_line(control_error("permission denied: uid " +
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
  if (!send_all(it->second->fd.get(), control_line(message))) {
    close_conn(id);
    return false;
  }
  it->second->waiting = keep_waiting;
  if (!keep_waiting) arm_idle(*it->second);
  return true;
}

void ControlServer::close_conn(ConnId id) { conns_.erase(id); }

}  // namespace byed
