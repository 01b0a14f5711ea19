// control_server.h — the control socket (`--control PATH`) on the loop: the
// listening socket, its connections, their lines in and out. What a line
// says is control_protocol.h's; what a request does is the core's
// (Supervisor, as a ControlRequest event).
//
// The socket is a unix stream socket, mode 0600 from the moment it exists;
// the peer's uid (SO_PEERCRED) must be root or byed's own, others get one
// error line and are disconnected. A malformed or unknown request gets an
// error reply and the connection stays usable. Lines are bounded (64 KiB)
// and a connection idle for 30 s without a request is closed, so a client
// that sends nothing, or endless bytes without a newline, can neither block
// nor bloat byed.
#pragma once

#include <uv.h>

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

class ControlServer {
 public:
  using RequestFn = std::function<void(ConnId, Command)>;
  using NoteFn = std::function<void(const std::string&)>;

  ControlServer(uv_loop_t* loop, RequestFn on_request, NoteFn on_note);
  ~ControlServer();

  // Creates the socket and starts accepting.
  bool listen(const std::string& path, std::string* err);

  // Sends one reply line; false if the connection is gone. A connection
  // waiting for its answer (an upgrade) is never idle; with keep_waiting it
  // stays so after this reply (a stop: open until byed exits).
  bool reply(ConnId id, const nlohmann::json& message,
             bool keep_waiting = false);

 private:
  struct Conn;
  bool watch_listener(std::string* err);
  void on_accept();
  void on_readable(Conn& c);
  void close_conn(ConnId id);
  void arm_idle(Conn& c);

  uv_loop_t* loop_;
  RequestFn on_request_;
  NoteFn on_note_;
  OwnedPath file_;
  UniqueFd fd_;
  UvHandle<uv_poll_t> poll_;
  UvHandle<uv_timer_t> backoff_;  // accept paused after EMFILE
  std::map<ConnId, std::unique_ptr<Conn>> conns_;
  ConnId next_id_ = 1;
};

}  // namespace byed
