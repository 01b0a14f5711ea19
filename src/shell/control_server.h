// control_server.h — the control socket (`--control PATH`) on the loop: the
// listening socket, its connections, their lines in and out. What a line
// says is control_protocol.h's; what a request does is the core's
// (Supervisor, as a ControlRequest event).
//
// The socket is a unix stream socket, mode 0600 from the moment it exists;
// the peer's uid (SO_PEERCRED) must be root or byed's own, others get one
// error line and are disconnected. A malformed or unknown request gets an
// error reply and the connection stays usable.
//
// No client can block or bloat byed: request lines are bounded (64 KiB); a
// connection idle for 30 s without a request is closed; and writes never
// wait — what the socket does not take stays in the connection's output
// buffer and goes out as the client reads. A client that lets more than
// kControlMaxPending pile up there (it sends requests and does not read the
// answers) is dropped, with one note.
#pragma once

#include <uv.h>

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "control_protocol.h"
#include "fd.h"
#include "sockets.h"
#include "supervisor.h"
#include "uv_handle.h"

namespace byed {

constexpr size_t kControlMaxPending = 256 * 1024;

class ControlServer {
 public:
  using RequestFn = std::function<void(const ControlRequest&)>;
  using NoteFn = std::function<void(const std::string&)>;

  // max_pending: the output buffer's bound per connection (tests lower it).
  ControlServer(uv_loop_t* loop, RequestFn on_request, NoteFn on_note,
                size_t max_pending = kControlMaxPending);
  ~ControlServer();

  // Creates the socket and starts accepting.
  bool listen(const std::string& path, std::string* err);

  // Queues one reply line and sends what the socket takes now; false if the
  // connection is gone, or was dropped because its buffer is full. A
  // connection waiting for its answer (an upgrade) is never idle; with
  // keep_waiting it stays so after this reply (a stop: open until byed
  // exits).
  bool reply(ConnId id, const nlohmann::json& message,
             bool keep_waiting = false);

  // Open connections (for tests).
  size_t connections() const { return conns_.size(); }

 private:
  struct Conn;
  bool watch_listener(std::string* err);
  void on_accept();
  void on_io(Conn& c, int status, int events);
  void on_readable(Conn& c);
  bool flush(Conn& c);
  bool watch_conn(Conn& c);
  void close_conn(ConnId id);
  void arm_idle(Conn& c);

  uv_loop_t* loop_;
  RequestFn on_request_;
  NoteFn on_note_;
  size_t max_pending_;
  OwnedPath file_;
  UniqueFd fd_;
  UvHandle<uv_poll_t> poll_;
  UvHandle<uv_timer_t> backoff_;  // accept paused after EMFILE
  std::map<ConnId, std::unique_ptr<Conn>> conns_;
  ConnId next_id_ = 1;
};

}  // namespace byed
