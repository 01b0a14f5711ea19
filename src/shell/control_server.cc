// control_server.cc — the control socket's listener and connections on the
// loop; non-blocking in both directions (see the header).
#include "control_server.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace byed {
namespace {

constexpr uint64_t kIdleMs = 30000;

}  // namespace

struct ControlServer::Conn {
  ControlServer* server = nullptr;
  ConnId id = 0;
  UniqueFd fd;
  UvHandle<uv_poll_t> poll;
  UvHandle<uv_timer_t> idle;
  std::string in;
  std::string out;       // reply bytes the socket has not taken yet
  int watching = 0;      // the uv_poll events asked for
  bool waiting = false;  // for its answer: not idle
};

ControlServer::ControlServer(uv_loop_t* loop, RequestFn on_request,
                             NoteFn on_note, size_t max_pending)
    : loop_(loop),
      on_request_(std::move(on_request)),
      on_note_(std::move(on_note)),
      max_pending_(max_pending) {}

ControlServer::~ControlServer() {
  conns_.clear();
  backoff_.reset();
  poll_.reset();
  file_.unlink_if_ours();
}

bool ControlServer::listen(const std::string& path, std::string* err) {
  std::string what = "control " + path;
  // It listens before its path appears: a client is never refused.
  if (!bind_unix_socket(path, what, SOCK_STREAM, 0600, 64, &fd_, err)) {
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
      // One line into the new socket's empty buffer: it fits, and if it
      // does not, the client learns no more than from the close.
      std::string line = control_line(
          control_error("permission denied: uid " + std::to_string(cred.uid) +
                        " may not control this byed"));
      send(cfd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      on_note_("control: rejected a client with uid " +
               std::to_string(cred.uid));
      continue;  // closed by UniqueFd
    }
    auto c = std::make_unique<Conn>();
    c->server = this;
    c->id = next_id_++;
    c->fd = std::move(fd);
    if (c->poll.init(uv_poll_init, loop_, c.get(), c->fd.get()) != 0 ||
        c->idle.init(uv_timer_init, loop_, c.get()) != 0 || !watch_conn(*c)) {
      continue;  // dropped: closed by its destructors
    }
    arm_idle(*c);
    conns_[c->id] = std::move(c);
  }
}

// Readable always; writable while output is pending.
bool ControlServer::watch_conn(Conn& c) {
  int events = UV_READABLE | (c.out.empty() ? 0 : UV_WRITABLE);
  if (events == c.watching) return true;
  int rc =
      uv_poll_start(c.poll.get(), events, [](uv_poll_t* h, int status, int ev) {
        auto* conn = static_cast<Conn*>(h->data);
        conn->server->on_io(*conn, status, ev);
      });
  if (rc != 0) return false;
  c.watching = events;
  return true;
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

void ControlServer::on_io(Conn& c, int status, int events) {
  if (status < 0) {  // the socket failed; libuv has stopped watching it
    close_conn(c.id);
    return;
  }
  if ((events & UV_WRITABLE) != 0 && !flush(c)) return;
  if ((events & UV_READABLE) != 0) on_readable(c);
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
    ControlRequest req{id, Command::kStatus};
    if (!parse_control_request(line, &req.cmd, &error, &req.count)) {
      if (!reply(id, control_error(error))) return;
      continue;
    }
    c.waiting = true;  // until its answer, however long that takes
    on_request_(req);  // may reply, or close this connection
    if (conns_.find(id) == conns_.end()) return;
  }
  if (c.in.size() > kControlMaxLine) {
    reply(id, control_error("request line longer than 64 KiB"));
    close_conn(id);
  }
}

// Sends what the socket takes without waiting; false if the connection was
// closed (the peer is gone, or its backlog passed the bound).
bool ControlServer::flush(Conn& c) {
  size_t sent = 0;
  while (sent < c.out.size()) {
    ssize_t n = send(c.fd.get(), c.out.data() + sent, c.out.size() - sent,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) {
      close_conn(c.id);
      return false;
    }
    sent += static_cast<size_t>(n);
  }
  c.out.erase(0, sent);
  if (c.out.size() > max_pending_) {
    on_note_("control: dropped a client that does not read its replies (" +
             std::to_string(c.out.size()) + " bytes unsent, limit " +
             std::to_string(max_pending_) + ")");
    close_conn(c.id);
    return false;
  }
  if (!watch_conn(c)) {
    close_conn(c.id);
    return false;
  }
  return true;
}

bool ControlServer::reply(ConnId id, const nlohmann::json& message,
                          bool keep_waiting) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return false;
  Conn& c = *it->second;
  c.out += control_line(message);
  if (!flush(c)) return false;
  c.waiting = keep_waiting;
  if (!keep_waiting) arm_idle(c);
  return true;
}

void ControlServer::close_conn(ConnId id) { conns_.erase(id); }

}  // namespace byed
