// startup.cc — the start-up plan and the stale-PIDFILE rule (startup.h).
#include "startup.h"

#include <signal.h>

#include <algorithm>

#include "signals.h"

namespace byed {

StartupPlan plan_startup(const Config& config, const StartupFacts& facts) {
  StartupPlan plan;
  plan.ignored = facts.ignored;
  auto chld = std::find(plan.ignored.begin(), plan.ignored.end(), SIGCHLD);
  if (chld != plan.ignored.end()) {
    plan.ignored.erase(chld);
    plan.reset_sigchld = true;
    plan.notes.push_back(
        {LogLevel::kWarn,
         0,
         "SIGCHLD was ignored by whoever started byed: reset to the default",
         {}});
  }
  if (!plan.ignored.empty()) {
    std::string names;
    for (int sig : plan.ignored) {
      names += (names.empty() ? "" : ",") + signal_name(sig);
    }
    // A warning (tini -w's): shown with -q too.
    plan.notes.push_back(
        {LogLevel::kWarn,
         0,
         "signals ignored by whoever started byed stay ignored",
         {{"signals", names}}});
  }
  for (int sig : caught_signals()) {
    if (std::find(plan.ignored.begin(), plan.ignored.end(), sig) ==
        plan.ignored.end()) {
      plan.watched.push_back(sig);
    }
  }
  if (!facts.pid1 && config.subreaper) {
    plan.become_subreaper = true;
  } else if (!facts.pid1) {
    plan.reaper_note = LogRecord{LogLevel::kWarn,
                                 0,
                                 "--no-subreaper and not PID 1: orphans go to "
                                 "init, byed neither reaps nor waits for them",
                                 {}};
  }
  plan.make_ready_dir = !config.ready_dir.empty();
  plan.listen_control = !config.control.empty();
  plan.watch_exit_dir = config.follower();
  plan.parent_death_signal = std::max(config.parent_death_signal, 0);
  plan.clear_stale_pidfile = !config.pidfile.empty();
  return plan;
}

int startup_exit_code(StartupStep step) {
  return step == StartupStep::kExitDir ? 2 : 1;
}

PidfileVerdict judge_pidfile(const std::string& path, int found, int self,
                             bool alive, const std::string& comm) {
  PidfileVerdict v;
  if (found <= 0 || found == self) return v;
  const std::string pid = std::to_string(found);
  if (alive && comm == "byed") {
    v.note = "pidfile " + path + " names a running byed (pid " + pid +
             "); it is replaced once this one is ready";
    return v;
  }
  v.remove = true;
  v.note = "removed stale pidfile " + path + " (pid " + pid +
           (alive ? " is now " + (comm.empty() ? "another process" : comm)
                  : " is gone") +
           ")";
  return v;
}

}  // namespace byed
