// loop.h — the libuv shell around the pure core.
//
// Runtime owns the event loop and every OS resource byed holds while it
// runs: the signalfd, timers, the held sockets, each generation's ready pipe
// and notify socket, the EXIT_DIR watch. It turns each OS event into a
// Supervisor Event and carries out the Actions it gets back (fork/exec,
// kill, timers, notify, pidfile, marker, exit). It holds no policy of its
// own.
#pragma once

#include <uv.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config.h"
#include "control.h"
#include "exit_dir.h"
#include "fd.h"
#include "log.h"
#include "sockets.h"
#include "supervisor.h"
#include "uv_handle.h"

namespace byed {

class Runtime {
 public:
  // sockets: what byed holds and passes to every generation (sockets.h).
  Runtime(Config config, std::vector<HeldSocket> sockets, const Logger& logger);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Runs until the supervisor decides to exit; returns byed's exit code.
  int run();

 private:
  // The fds through which one generation says it is ready.
  struct GenIo {
    Runtime* runtime = nullptr;
    int gen = 0;
    int pid = -1;
    UniqueFd ready_read;  // UPGRADE_FD's other end
    UvHandle<uv_poll_t> ready_poll;
    bool ready_said = false;
    UniqueFd notify;  // this generation's NOTIFY_SOCKET
    UvHandle<uv_poll_t> notify_poll;
  };

  void dispatch(const Event& event);
  void execute(const Action& action);
  void do_spawn(int gen);
  void do_signal(const SendSignal& s);
  void arm_timer(const TimerId& id, Millis after);
  void notify_systemd(const std::string& state);
  void write_marker(const WriteExitMarker& m);
  void reap();
  void read_ready_pipe(GenIo& io);
  void read_notify(GenIo& io);
  void log(LogLevel level, std::string message, LogFields fields = {});
  void on_control(ControlServer::ConnId id, const ControlRequest& req);
  void upgrade_finished(const UpgradeFinished& u);
  void note_transitions();
  void forget_gone_generations();
  nlohmann::json status_json() const;

  static void on_signals(uv_poll_t* handle, int status, int events);
  static void on_timer(uv_timer_t* handle);

  Config config_;
  std::vector<HeldSocket> sockets_;
  const Logger& logger_;
  uv_loop_t loop_{};
  Supervisor core_;
  std::vector<std::string> child_env_;
  std::string own_notify_;  // byed's NOTIFY_SOCKET from systemd, if any
  bool take_terminal_ = false;
  bool pidfile_written_ = false;
  UniqueFd signal_fd_;
  UvHandle<uv_poll_t> signal_poll_;
  std::map<TimerId, UvHandle<uv_timer_t>> timers_;
  std::map<int, std::unique_ptr<GenIo>> gen_io_;  // by generation
  std::optional<int> exit_code_;
  std::unique_ptr<ExitDirWatcher> exit_watch_;
  std::map<int, timespec> started_at_;  // per generation, for the marker
  std::map<int, timespec> ready_at_;    // per generation, for status
  timespec byed_started_{};
  std::unique_ptr<ControlServer> control_;
  std::vector<ControlServer::ConnId> upgrade_waiters_;
  std::vector<ControlServer::ConnId> stop_waiters_;
  nlohmann::json last_upgrade_;  // for status: result, gen, reason, duration
};

// byed's environment less what byed consumes (EXIT_DIR, PIDFILE, LISTEN_*,
// NOTIFY_SOCKET, WATCHDOG_*, BYED_*): the base of every child's environment.
std::vector<std::string> child_environment(char** environ_in);

}  // namespace byed
