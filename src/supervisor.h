// supervisor.h — the pure core: generations, their states, events -> actions.
//
// Supervisor knows nothing of libuv or syscalls. The shell (loop.cc) turns
// each OS event into an Event, calls on(), and carries out the Actions it gets
// back in order. Every rule of the contract that is a decision — which
// generation a signal goes to, when to SIGKILL, which exit code byed returns —
// lives here and is unit tested without starting a process.
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

// An entry appeared in EXIT_DIR (already filtered: not ours, not a temp).
struct ExitDirEntry {
  std::string name;
};

enum class TimerKind { kStopKill };
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

using Event = std::variant<Start, SignalReceived, Spawned, ChildExited,
                           TimerFired, ExitDirEntry>;

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
// Leader: leave NAME.exit in EXIT_DIR for generation `gen` (pid, status).
struct WriteExitMarker {
  int gen;
  int pid;
  int wait_status;
};
struct ExitProcess {
  int code;
};

using Action = std::variant<SpawnGeneration, SendSignal, ArmTimer, CancelTimer,
                            Log, WriteExitMarker, ExitProcess>;

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
};

class Supervisor {
 public:
  enum class GenState { kStarting, kRunning, kExited };
  struct Generation {
    int num = 0;
    int pid = -1;
    GenState state = GenState::kStarting;
    int wait_status = 0;
  };

  explicit Supervisor(SupervisorOptions options);

  std::vector<Action> on(const Event& event);

  // Read-only view for status and tests.
  const std::vector<Generation>& generations() const { return gens_; }
  bool stopping() const { return stopping_; }
  bool exited() const { return exited_; }

 private:
  std::vector<Action> on_start();
  std::vector<Action> on_signal(int sig);
  std::vector<Action> on_spawned(const Spawned& e);
  std::vector<Action> on_exited(const ChildExited& e);
  std::vector<Action> on_timer(const TimerId& id);
  std::vector<Action> on_exit_dir(const ExitDirEntry& e);
  void begin_stop(std::vector<Action>& out, int sig);

  Generation* find_gen(int num);
  Generation* find_pid(int pid);
  bool any_alive() const;
  void maybe_exit(std::vector<Action>& out);

  SupervisorOptions opt_;
  std::vector<Generation> gens_;
  int current_ = 0;  // generation that receives forwarded signals
  bool stopping_ = false;
  bool stopped_by_exit_dir_ = false;
  bool exited_ = false;
  std::optional<int> final_status_;  // wait status of the current generation
  int final_pid_ = 0;
};

}  // namespace byed
