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
// request means is decided by the core (Supervisor, as a ControlRequest
// event), and the replies it decides are turned into JSON here.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "fd.h"
#include "sockets.h"
#include "supervisor.h"
#include "uv_handle.h"

namespace byed {

constexpr int kControlVersion = 1;
constexpr size_t kControlMaxLine = 64 * 1024;

// Parses one request line: {"v":1,"cmd":"status"|"upgrade"|"stop"}.
bool parse_control_request(const std::string& line, Command* cmd,
                           std::string* err);

// The reply lines, one per kind of answer.
nlohmann::json control_error(const std::string& message);
nlohmann::json upgrade_reply(const UpgradeResult& result);
nlohmann::json stopping_reply();

// What `status` answers: the core's view plus what only the shell knows.
struct StatusContext {
  int pid = 0;
  timespec started_at{};
  timespec now{};
  const std::vector<HeldSocket>* sockets = nullptr;
};
nlohmann::json status_reply(const Supervisor& core, const StatusContext& ctx);

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

// ---- client ---------------------------------------------------------------

// The socket `byed ctl` talks to: --control, else $BYED_CONTROL, else
// $RUNTIME_DIRECTORY/byed.sock. Empty when none is known.
std::string find_control_path(const std::string& flag);

// Sends one request and reads one reply line, waiting at most `timeout`.
// Fills *reply, or fails with a one-line reason. With fd_out, the
// connection is kept there (for `stop`, to wait for EOF).
bool control_call(const std::string& path, const std::string& cmd,
                  std::chrono::milliseconds timeout, nlohmann::json* reply,
                  std::string* err, UniqueFd* fd_out = nullptr);

// Waits until the peer closes the connection (byed exited) or timeout.
bool wait_closed(int fd, std::chrono::milliseconds timeout);

// The text table `byed ctl status` prints.
std::string format_status(const nlohmann::json& status);

}  // namespace byed
