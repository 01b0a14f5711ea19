// loop.h — the libuv shell around the pure core.
//
// Runtime owns the event loop and every OS resource byed holds while it
// runs: the signalfd, timers, the held sockets, each generation's pipes and
// notify socket, the EXIT_DIR watch, the control socket. It turns each OS
// event into a Supervisor Event and carries out the Actions it gets back
// (fork/exec, kill, timers, notify, pidfile, marker, control replies, exit).
// It decides nothing: events go through one queue, so the actions of one
// event are all carried out, in the order the core gave them, before the
// next event (e.g. the Spawned that a spawn produces) reaches the core.
#pragma once

#include <uv.h>

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "accepting_probe.h"
#include "child_output.h"
#include "config.h"
#include "control_server.h"
#include "exit_dir.h"
#include "fd.h"
#include "log.h"
#include "probe_runner.h"
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
  // The fds through which one generation reports: whether exec worked, and
  // that it is ready.
  struct GenIo {
    Runtime* runtime = nullptr;
    int gen = 0;
    int pid = -1;
    UniqueFd exec_status;  // the child's exec-error pipe
    UvHandle<uv_poll_t> exec_poll;
    UniqueFd ready_read;  // UPGRADE_FD's other end
    UvHandle<uv_poll_t> ready_poll;
    bool ready_said = false;
    UniqueFd notify;  // this generation's NOTIFY_SOCKET
    UvHandle<uv_poll_t> notify_poll;
  };

  bool start_watches();
  void start_child_output();
  void dispatch(Event event);
  void execute(const Action& action);
  void do_spawn(const SpawnGeneration& a);
  void do_signal(const SendSignal& s);
  void signal_orphans(const SignalOrphans& s);
  void give_terminal(int pgid);
  void check_groups();
  void probe_accepting(const ProbeAccepting& p);
  void arm_timer(const TimerId& id, Millis after);
  void notify_systemd(const NotifySystemd& n);
  void write_marker(const WriteExitMarker& m);
  std::string ready_marker_name() const;
  void write_ready_marker();
  void watch_ready_dir();
  void reap();
  void read_exec_status(GenIo& io);
  void read_ready_pipe(GenIo& io);
  void read_notify(GenIo& io);
  bool watch(GenIo& io, UniqueFd& fd, UvHandle<uv_poll_t>& poll);
  void log(LogLevel level, std::string message, LogFields fields = {});

  static void on_signals(uv_poll_t* handle, int status, int events);
  static void on_timer(uv_timer_t* handle);

  Config config_;
  std::vector<HeldSocket> sockets_;
  const Logger& logger_;
  uv_loop_t loop_{};
  Supervisor core_;
  std::deque<Event> queue_;  // events not yet given to the core
  bool dispatching_ = false;
  std::vector<std::string> child_env_;
  std::string own_notify_;  // byed's NOTIFY_SOCKET from systemd, if any
  std::vector<int> ignored_signals_;  // ignored when byed started: stay so
  int terminal_pgid_ = 0;  // the group byed last gave the terminal to
  std::map<int, int> watched_groups_;  // gen -> pgid, until it is empty
  std::unique_ptr<UvHandle<uv_timer_t>> group_timer_;
  std::map<int, int> orphans_told_;  // pid -> the signal it was sent
  bool pidfile_written_ = false;
  UniqueFd signal_fd_;
  UvHandle<uv_poll_t> signal_poll_;
  std::map<TimerId, UvHandle<uv_timer_t>> timers_;
  std::map<int, std::unique_ptr<GenIo>> gen_io_;  // by generation
  std::optional<int> exit_code_;
  std::unique_ptr<ExitDirWatcher> exit_watch_;
  std::unique_ptr<ExitDirWatcher> ready_watch_;  // --ready-dir, for --wait-for
  bool ready_marker_written_ = false;
  timespec byed_started_{};
  std::unique_ptr<ControlServer> control_;
  std::vector<std::string> probe_env_;  // child_env_ and the sockets' addresses
  std::unique_ptr<ProbeRunner> probes_;
  AcceptingProbe accepting_;           // keeps its buffers between looks
  std::vector<uint64_t> held_inodes_;  // sockets_' inodes, in order
  std::string inode_error_;            // why they are not known
  // --log-child tag|json|journal: the generations' output pipes, read and
  // written out as lines; nullptr: raw, inherited.
  std::unique_ptr<ChildOutput> child_output_;
};

// byed's environment less what byed consumes (config.h's
// consumed_env_var): the base of every child's environment.
std::vector<std::string> child_environment(char** environ_in);

}  // namespace byed
