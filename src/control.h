// control.h — the control socket (`--control PATH`) and the `byed ctl` client.
//
// Protocol: a unix stream socket, mode 0600 from the moment it exists; the
// peer's uid (SO_PEERCRED) must be root or byed's own, others get one error
// line and are disconnected. One JSON object per line in, one per line out,
// versioned ("v": 1). A malformed or unknown request gets an error reply and
// the connection stays usable. Lines are bounded (64 KiB) and a connection
// idle for 30 s without a request is closed, so a client that sends nothing,
// or endless bytes without a newline, can neither block nor bloat byed.
//
// ControlServer owns the listening socket and the connections; what a
// request means is up to its owner (loop.cc), reached through callbacks.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "fd.h"
#include "uv_handle.h"

namespace byed {

constexpr int kControlVersion = 1;
constexpr size_t kControlMaxLine = 64 * 1024;

struct ControlRequest {
  std::string cmd;  // "status", "upgrade", "stop"
};

// Parses one request line. Returns the request, or sets error.
std::optional<ControlRequest> parse_control_request(const std::string& line,
                                                    std::string& error);

// {"v":1,"ok":false,"error":message}
nlohmann::json control_error(const std::string& message);

class ControlServer {
 public:
  using ConnId = uint64_t;
  using RequestFn = std::function<void(ConnId, const ControlRequest&)>;
  using NoteFn = std::function<void(const std::string&)>;

  ControlServer(uv_loop_t* loop, RequestFn on_request, NoteFn on_note);
  ~ControlServer();

  // Creates the socket (SocketError on failure, like --listen).
  void listen(const std::string& path);

  // Sends one reply line; false if the connection is gone.
  bool reply(ConnId id, const nlohmann::json& message);
  // While a connection waits for a long answer (an upgrade) it is not idle.
  void set_waiting(ConnId id, bool waiting);

 private:
  struct Conn;
  void watch_listener();
  void on_accept();
  void on_readable(Conn& c);
  void close_conn(ConnId id);
  void arm_idle(Conn& c);

  uv_loop_t* loop_;
  RequestFn on_request_;
  NoteFn on_note_;
  std::string path_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  UniqueFd fd_;
  UvHandle<uv_poll_t> poll_;
  UvHandle<uv_timer_t> backoff_;  // accept paused after EMFILE
  std::map<ConnId, std::unique_ptr<Conn>> conns_;
  ConnId next_id_ = 1;
};

// ---- client ---------------------------------------------------------------

// The socket `byed ctl` talks to: --control, else $BYED_CONTROL, else
// $RUNTIME_DIRECTORY/byed.sock. Empty when none is known.
std::string find_control_path(const std::string& flag);

// Sends one request and reads one reply line, waiting at most `timeout`.
// Returns the reply, or throws std::runtime_error with a one-line reason.
// With keep_open, *fd_out keeps the connection (for `stop`, to wait for EOF).
nlohmann::json control_call(const std::string& path, const std::string& cmd,
                            std::chrono::milliseconds timeout,
                            UniqueFd* fd_out = nullptr);

// Waits until the peer closes the connection (byed exited) or timeout.
bool wait_closed(int fd, std::chrono::milliseconds timeout);

// The text table `byed ctl status` prints.
std::string format_status(const nlohmann::json& status);

}  // namespace byed
