// loop.h — the libuv shell around the pure core.
//
// Runtime owns the event loop and every OS resource byed holds while it
// runs: the signalfd, timers, the held sockets, each generation's pipes and
// notify socket, the EXIT_DIR watch, the control socket. It turns each OS
// event into a Supervisor Event and carries out the Actions it gets back
// (fork/exec, kill, timers, notify, pidfile, marker, control replies, exit).
// It decides nothing: events go through one queue, so the actions of one
// event are all carried out, in the order the core gave them, before the
// next event (e.g. the Spawned that a spawn produces) reaches the core. A
// signal's route (Supervisor::route, the core's) goes out as the signal is
// read; the core hears of the signal itself before any later event.
//
// Runtime's members live in one file per job:
//   loop.cc            the loop itself: dispatch, timers, the signalfd, exit
//   runtime_start.cc   start-up: carries out the core's StartupPlan
//   runtime_actions.cc execute(): each Action as syscalls
//   generation_io.cc   one generation's pipes and notify socket (GenIo)
//   reaper.cc          waitpid, and watching process groups empty
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
#include "orphan_ledger.h"
#include "probe_runner.h"
#include "proc.h"
#include "sockets.h"
#include "startup.h"
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
  // The fds through which one process byed started (a generation's worker)
  // reports: whether exec worked, and that it is ready.
  struct GenIo {
    Runtime* runtime = nullptr;
    int gen = 0;
    int worker = 0;
    int pid = -1;
    UniqueFd exec_status;  // the child's exec-error pipe
    UvHandle<uv_poll_t> exec_poll;
    UniqueFd ready_read;  // UPGRADE_FD's other end
    UvHandle<uv_poll_t> ready_poll;
    bool ready_said = false;
    UniqueFd notify;  // this generation's NOTIFY_SOCKET
    UvHandle<uv_poll_t> notify_poll;
  };

  // loop.cc
  void dispatch(Event event);
  void run_event(const Event& event, const Now& at);
  void on_signal(int sig);
  void flush_routed();
  void finish();
  void arm_timer(const TimerId& id, Millis after);
  void log(LogLevel level, std::string message, LogFields fields = {});
  // runtime_start.cc
  bool start(const StartupPlan& plan);
  bool start_signals(const StartupPlan& plan, std::string* err);
  void start_control();
  bool start_exit_watch(std::string* err);
  void start_child_output();
  void ask_parent_death_signal(int sig, pid_t parent);
  // runtime_actions.cc
  void execute(const Action& action);
  void do_signal(const SendSignal& s);
  void signal_orphans(const SignalOrphans& s);
  void give_terminal(int pgid);
  void probe_accepting(const ProbeAccepting& p);
  void notify_systemd(const NotifySystemd& n);
  void write_pidfile();
  void write_marker(const WriteExitMarker& m);
  void write_ready_marker();
  void watch_ready_dir();
  void read_caught_signals(const ReadCaughtSignals& r);
  // generation_io.cc
  void do_spawn(const SpawnGeneration& a);
  void read_exec_status(GenIo& io);
  void read_ready_pipe(GenIo& io);
  void read_notify(GenIo& io);
  bool watch(GenIo& io, UniqueFd& fd, UvHandle<uv_poll_t>& poll);
  // Reads what the generation led by `pid` still has to say, then drops
  // its fds; false when `pid` leads no generation.
  bool drain_generation(int pid);
  // reaper.cc
  void reap();
  void check_groups();

  static void on_signals(uv_poll_t* handle, int status, int events);
  static void on_timer(uv_timer_t* handle);
  static void on_routed_timer(uv_timer_t* handle);

  Config config_;
  std::vector<HeldSocket> sockets_;
  const Logger& logger_;
  uv_loop_t loop_{};
  bool loop_ok_ = false;  // uv_loop_init worked
  Supervisor core_;
  std::deque<Event> queue_;  // events not yet given to the core
  bool dispatching_ = false;
  // Signals whose route went out, not yet given to the core (with when
  // they came): before any other event, or kRoutedFollowUp later.
  std::vector<std::pair<SignalReceived, Now>> routed_;
  UvHandle<uv_timer_t> routed_timer_;
  std::vector<std::string> child_env_;
  std::string own_notify_;  // byed's NOTIFY_SOCKET from systemd, if any
  std::vector<int> ignored_signals_;  // the StartupPlan's: stay ignored
  int terminal_pgid_ = 0;  // the group byed last gave the terminal to
  // pgid -> {gen, worker}, until the group is empty.
  std::map<int, std::pair<int, int>> watched_groups_;
  std::unique_ptr<UvHandle<uv_timer_t>> group_timer_;
  OrphanLedger orphans_;  // which orphan was sent which signal
  OwnChildren own_children_;
  bool pidfile_written_ = false;
  UniqueFd signal_fd_;
  UvHandle<uv_poll_t> signal_poll_;
  std::map<TimerId, UvHandle<uv_timer_t>> timers_;
  std::map<int, std::unique_ptr<GenIo>> gen_io_;  // by the worker's pid
  std::optional<int> exit_code_;
  std::unique_ptr<ExitDirWatcher> exit_watch_;
  std::unique_ptr<ExitDirWatcher> ready_watch_;  // --ready-dir, for --wait-for
  bool ready_marker_written_ = false;
  timespec byed_started_{};
  std::unique_ptr<ControlServer> control_;
  std::vector<std::string> probe_env_;  // environment.h's probe_environment
  std::unique_ptr<ProbeRunner> probes_;
  AcceptingProbe accepting_;           // keeps its buffers between looks
  std::vector<uint64_t> held_inodes_;  // sockets_' inodes, in order
  std::string inode_error_;            // why they are not known
  // --log-child tag|json|journal: the generations' output pipes, read and
  // written out as lines; nullptr: raw, inherited.
  std::unique_ptr<ChildOutput> child_output_;
};

// CLOCK_REALTIME: the `now` of every event, status and marker.
timespec wall_clock();

}  // namespace byed
