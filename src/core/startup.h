// startup.h — what byed does before its first generation, as a plan.
//
// Pure. The shell looks at what it inherited (which signals were ignored,
// whether it is PID 1) and asks plan_startup what to do about it; it then
// carries the plan out in order and reports a failing step, whose exit
// code startup_exit_code gives. The stale-PIDFILE rule is here too: the
// shell reads the file and the process it names, the verdict is
// judge_pidfile's.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config.h"
#include "log_record.h"

namespace byed {

// What the shell found at start.
struct StartupFacts {
  std::vector<int> ignored;  // signals ignored by whoever started byed
  bool pid1 = false;         // byed is PID 1 (of its namespace)
};

struct StartupPlan {
  // Signals that stay ignored: not caught, not forwarded, and still ignored
  // in every generation (as tini does). Never SIGCHLD.
  std::vector<int> ignored;
  // The signals byed blocks and reads from a signalfd: every one it
  // catches (signals.h's caught_signals) that does not stay ignored.
  std::vector<int> watched;
  // An inherited SIGCHLD ignore is undone (back to the default, for byed
  // and so for its generations): with it the kernel reaps every child
  // itself, and byed could never learn an exit status.
  bool reset_sigchld = false;
  // Logged first, before --log-child takes byed's own records.
  std::vector<LogRecord> notes;
  bool become_subreaper = false;  // PR_SET_CHILD_SUBREAPER
  // Logged once --log-child is set up (about orphans: no subreaper).
  std::optional<LogRecord> reaper_note;
  bool make_ready_dir = false;  // mkdir --ready-dir; one already there is fine
  bool listen_control = false;  // --control
  bool watch_exit_dir = false;  // follower: watch EXIT_DIR before the first
                                // generation (an entry there: none starts)
  int parent_death_signal = 0;  // 0: none asked for
  bool clear_stale_pidfile = false;  // a PIDFILE is configured
};

StartupPlan plan_startup(const Config& config, const StartupFacts& facts);

// The start-up steps that can fail.
enum class StartupStep { kReadyDir, kSignals, kControl, kExitDir };

// byed's exit code when `step` fails: 2 when the follower's EXIT_DIR cannot
// be watched (what was asked for cannot work, as with a usage error), 1
// for the rest (something byed should have been able to open).
int startup_exit_code(StartupStep step);

// byed's exit code when the loop ended without the core deciding one.
constexpr int kExitUndecided = 1;

// A PIDFILE found at start names `found` (-1: none, or unreadable). `alive`:
// that pid exists; `comm`: its /proc/PID/comm when alive.
struct PidfileVerdict {
  bool remove = false;  // stale: remove it now
  std::string note;     // what is done, for the log; empty: nothing to say
};
// A PIDFILE left by a byed that was killed names a dead pid or one the
// kernel has since given to another process; until this byed is ready it
// would send an operator's USR1 to the wrong place, so it is removed unless
// it names a live byed (which is then replaced once this one is ready).
PidfileVerdict judge_pidfile(const std::string& path, int found, int self,
                             bool alive, const std::string& comm);

}  // namespace byed
