// supervisor.h — the pure core: generations, their states, events -> actions.
//
// Supervisor knows nothing of libuv or syscalls. The shell (loop.cc) turns
// each OS event into an Event, calls on(), and carries out the Actions it gets
// back in order. Every rule of the contract that is a decision — which
// generation a signal goes to, when a generation is ready, how an upgrade
// hands over or rolls back, when to SIGKILL, which exit code byed returns —
// lives here and is unit tested without starting a process.
//
// A generation is one run of the program: starting (spawned, not yet ready),
// ready (the current one, target of forwarded signals), draining (replaced,
// told to stop) or exited. An upgrade starts generation N+1 beside the
// current one; when N+1 is ready the old one is drained; when N+1 dies or is
// not ready in time, it is stopped and the old one keeps serving, untouched.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "config.h"
#include "log.h"

namespace byed {

// ---- events ---------------------------------------------------------------

struct Start {};
struct SignalReceived {
  int sig;
};
// An upgrade asked for by other means than the upgrade signal (control
// socket). `source` is for the log.
struct UpgradeRequested {
  std::string source;
};
// The shell forked generation `gen` as `pid`. pid < 0: fork itself failed.
// error: why the program could not be run (exec failed in the child, which
// then exits 126/127), or why fork failed; empty when exec succeeded.
struct Spawned {
  int gen;
  int pid;
  std::string error;
};
// waitpid() returned this pid with this raw wait status. Orphans reaped as
// PID 1 or subreaper arrive here too and are only logged.
struct ChildExited {
  int pid;
  int wait_status;
};
// Generation `gen` said it is ready: "pipe" (a byte on UPGRADE_FD) or
// "notify" (READY=1 on its NOTIFY_SOCKET, from a process of that generation).
struct ChildReady {
  int gen;
  std::string via;
};
// An entry appeared in EXIT_DIR (already filtered: not ours, not a temp).
struct ExitDirEntry {
  std::string name;
};

enum class TimerKind {
  kStopKill,      // gen 0: stop-timeout after a stop, for everything left
  kDrainKill,     // stop-timeout for one drained or failed generation
  kReadyTimeout,  // --ready-timeout for a starting generation
  kReadyDelay,    // --ready DUR / auto's 1 s for a starting generation
};
struct TimerId {
  TimerKind kind;
  int gen;
  bool operator==(const TimerId& o) const {
    return kind == o.kind && gen == o.gen;
  }
  bool operator<(const TimerId& o) const {
    return kind != o.kind ? kind < o.kind : gen < o.gen;
  }
};
struct TimerFired {
  TimerId id;
};

using Event = std::variant<Start, SignalReceived, UpgradeRequested, Spawned,
                           ChildExited, ChildReady, ExitDirEntry, TimerFired>;

// ---- actions --------------------------------------------------------------

struct SpawnGeneration {
  int gen;
};
// kill(pid, sig); with group, kill(-pid, sig) (each generation leads its own
// process group), falling back to the pid alone.
struct SendSignal {
  int pid;
  int sig;
  bool group = false;
};
struct ArmTimer {
  TimerId id;
  Millis after;
};
struct CancelTimer {
  TimerId id;
};
struct Log {
  LogRecord record;
};
// To byed's own NOTIFY_SOCKET, if it has one. The shell adds MAINPID= to a
// READY=1 and MONOTONIC_USEC= to a RELOADING=1.
struct NotifySystemd {
  std::string state;
};
// PIDFILE: byed's own pid, written once the first generation is ready.
struct WritePidfile {};
// Leader: leave NAME.exit in EXIT_DIR for generation `gen` (pid, status).
struct WriteExitMarker {
  int gen;
  int pid;
  int wait_status;
};
// How an upgrade ended, for whoever waits on it (control socket).
struct UpgradeFinished {
  bool ok = false;
  int gen = 0;
  int pid = 0;
  std::string reason;  // empty when ok
};
struct ExitProcess {
  int code;
};

using Action = std::variant<SpawnGeneration, SendSignal, ArmTimer, CancelTimer,
                            Log, NotifySystemd, WritePidfile, WriteExitMarker,
                            UpgradeFinished, ExitProcess>;

// ---- the core -------------------------------------------------------------

// 0..255 for a normal exit, 128+N for death by signal N.
int exit_code_from_wait_status(int wait_status);
// "exit code 3", "killed by signal TERM".
std::string describe_wait_status(int wait_status);

struct SupervisorOptions {
  Millis stop_timeout{30000};
  int upgrade_signal = 0;
  std::string program;       // for messages
  bool log_debug = false;    // build debug records (hot paths skip them if not)
  bool exit_leader = false;  // write a marker when the child ends
  bool exit_follower = false;  // stop when an EXIT_DIR entry appears
  int drain_signal = 15;       // SIGTERM
  ReadyMode ready_mode = ReadyMode::kAuto;
  Millis ready_delay{1000};  // kDelay: the duration; kAuto: 1 s
  Millis ready_timeout{60000};
};

class Supervisor {
 public:
  enum class GenState { kStarting, kReady, kDraining, kExited };
  struct Generation {
    int num = 0;
    int pid = -1;
    GenState state = GenState::kStarting;
    int wait_status = 0;
    bool spawned = false;
    std::string error;  // exec error, for the failure reason
  };
  struct LastUpgrade {
    bool ok = false;
    int gen = 0;
    std::string reason;
  };

  explicit Supervisor(SupervisorOptions options);

  std::vector<Action> on(const Event& event);

  // Read-only view for status and tests: the live generations (and the
  // current one even after it ended).
  const std::vector<Generation>& generations() const { return gens_; }
  int current() const { return current_; }
  int upgrading() const { return upgrading_; }
  bool stopping() const { return stopping_; }
  bool exited() const { return exited_; }
  const std::optional<LastUpgrade>& last_upgrade() const {
    return last_upgrade_;
  }

 private:
  std::vector<Action> on_start();
  std::vector<Action> on_signal(int sig);
  std::vector<Action> on_upgrade_request(const std::string& source);
  std::vector<Action> on_spawned(const Spawned& e);
  std::vector<Action> on_exited(const ChildExited& e);
  std::vector<Action> on_ready(const ChildReady& e);
  std::vector<Action> on_timer(const TimerId& id);
  std::vector<Action> on_exit_dir(const ExitDirEntry& e);

  void spawn(std::vector<Action>& out, int gen);
  void start_upgrade(std::vector<Action>& out);
  void become_ready(std::vector<Action>& out, Generation& g,
                    const std::string& via);
  void fail_starting(std::vector<Action>& out, Generation& g,
                     const std::string& reason);
  void drain(std::vector<Action>& out, Generation& g, int sig);
  void begin_stop(std::vector<Action>& out, int sig);
  void cancel_ready_timers(std::vector<Action>& out, int gen);
  void maybe_exit(std::vector<Action>& out);

  Generation* find_gen(int num);
  Generation* find_pid(int pid);
  bool any_alive() const;

  SupervisorOptions opt_;
  std::vector<Generation> gens_;  // live ones, and the current one
  bool started_ = false;
  int last_gen_ = 0;
  int current_ = 0;    // generation that receives forwarded signals
  int upgrading_ = 0;  // generation an upgrade is waiting on, 0: none
  bool upgrade_pending_ = false;  // one more requested while in flight
  bool ever_messaged_ = false;    // some generation sent a readiness message
  bool first_ready_ = false;
  bool stopping_ = false;
  bool stopped_by_exit_dir_ = false;
  bool exited_ = false;
  std::optional<int> final_status_;  // wait status of the current generation
  int final_pid_ = 0;
  std::optional<int> forced_exit_code_;  // e.g. 1: first generation not ready
  std::optional<LastUpgrade> last_upgrade_;
};

}  // namespace byed
