#include "supervisor.h"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>

#include "signals.h"

namespace byed {
namespace {

void log(std::vector<Action>& out, LogLevel level, int gen, std::string msg,
         LogFields fields = {}) {
  out.push_back(Log{LogRecord{level, gen, std::move(msg), std::move(fields)}});
}

std::string pid_str(int pid) { return std::to_string(pid); }

// How long a starting generation may run without waiting on the held
// sockets before byed says what that may mean.
constexpr int64_t kAcceptingHintMs = 5000;

}  // namespace

int exit_code_from_wait_status(int ws) {
  if (WIFEXITED(ws)) return WEXITSTATUS(ws);
  if (WIFSIGNALED(ws)) return 128 + WTERMSIG(ws);
  return 1;
}

std::string describe_wait_status(int ws) {
  if (WIFSIGNALED(ws)) {
    return "killed by signal " + signal_name(WTERMSIG(ws)) +
           (WCOREDUMP(ws) ? " (core dumped)" : "");
  }
  return "exit code " + std::to_string(exit_code_from_wait_status(ws));
}

const char* notify_state_line(NotifySystemd::State state) {
  static constexpr const char* kLines[] = {nullptr,       "READY=1",
                                           "RELOADING=1", "STOPPING=1",
                                           "WATCHDOG=1",  "WATCHDOG=trigger"};
  return kLines[static_cast<size_t>(state)];
}

Supervisor::Supervisor(Config config) : cfg_(std::move(config)) {}

std::vector<Action> Supervisor::on(const Event& event, const Now& now) {
  if (exited_) return {};
  now_ = now;
  std::vector<Action> out = std::visit(
      [this](const auto& e) -> std::vector<Action> {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, Start>) return on_start(e);
        if constexpr (std::is_same_v<T, SignalReceived>)
          return on_signal(e.sig);
        if constexpr (std::is_same_v<T, ControlRequest>) return on_control(e);
        if constexpr (std::is_same_v<T, Spawned>) return on_spawned(e);
        if constexpr (std::is_same_v<T, Exec>) return on_exec(e);
        if constexpr (std::is_same_v<T, ChildExited>) return on_exited(e);
        if constexpr (std::is_same_v<T, GroupEmpty>) return on_group_empty(e);
        if constexpr (std::is_same_v<T, ChildStopped>) return on_stopped(e);
        if constexpr (std::is_same_v<T, ChildContinued>) return on_continued(e);
        if constexpr (std::is_same_v<T, AcceptingProbed>)
          return on_accepting(e);
        if constexpr (std::is_same_v<T, ProbeDone>) return on_probe_done(e);
        if constexpr (std::is_same_v<T, ChildReady>) return on_ready(e);
        if constexpr (std::is_same_v<T, ChildSaid>) return on_said(e);
        if constexpr (std::is_same_v<T, TimerFired>) return on_timer(e.id);
        if constexpr (std::is_same_v<T, ExitDirEntry>) return on_exit_dir(e);
        if constexpr (std::is_same_v<T, ReadyDirEntry>) return on_ready_dir(e);
        if constexpr (std::is_same_v<T, SignalsCaught>)
          return on_signals_caught(e);
      },
      event);
  // Forget generations that are gone (the current one stays, for its final
  // status): a byed upgraded a million times holds no more than a few.
  gens_.erase(std::remove_if(gens_.begin(), gens_.end(),
                             [this](const Generation& g) {
                               return !g.alive() && g.num != current_;
                             }),
              gens_.end());
  return out;
}

Supervisor::Generation* Supervisor::find_gen(int num) {
  for (auto& g : gens_) {
    if (g.num == num) return &g;
  }
  return nullptr;
}

Supervisor::Generation* Supervisor::find_pid(int pid) {
  for (auto& g : gens_) {
    if (g.pid == pid && g.state != GenState::kExited) return &g;
  }
  return nullptr;
}

bool Supervisor::any_alive() const {
  return std::any_of(gens_.begin(), gens_.end(),
                     [](const Generation& g) { return g.alive(); });
}

// ---- start and spawn --------------------------------------------------------

std::vector<Action> Supervisor::on_start(const Start& e) {
  std::vector<Action> out;
  if (started_) return out;
  started_ = true;
  terminal_ = e.terminal;
  ignored_ = e.ignored;
  // A signal byed would send that stays ignored in the child never
  // arrives: say so now, not after a stop has waited out --stop-timeout.
  auto ignored = [this](int sig) {
    return std::find(ignored_.begin(), ignored_.end(), sig) != ignored_.end();
  };
  auto warn_ignored = [&](int sig, const std::string& what) {
    if (sig <= 0 || !ignored(sig)) return;
    log(out, LogLevel::kWarn, 0,
        what + " sends " + signal_name(sig) +
            ", which whoever started byed ignores: it stays ignored in the "
            "program, so it never arrives",
        {{"signal", signal_name(sig)}});
  };
  for (const auto& [from, to] : cfg_.rewrite) {
    warn_ignored(to, "--rewrite " + signal_name(from) + ":" + signal_name(to));
  }
  if (cfg_.drain_signal != SIGTERM) {
    warn_ignored(cfg_.drain_signal, "--drain-signal");
  }
  if (stopped_by_exit_dir_) {
    // The group was already told to stop: do not start what would be
    // stopped at once.
    // A refusal is a warning: shown even with -q.
    log(out, LogLevel::kWarn, 0,
        "not starting: the exit dir already has an entry");
    exit_now(out, 0, "the exit dir already had an entry");
    return out;
  }
  if (!cfg_.wait_for.empty()) {
    // Birth order: the child starts once every member named is ready.
    for (const std::string& n : cfg_.wait_for) waiting_for_.push_back(n);
    std::string names;
    for (const std::string& n : waiting_for_) {
      names += (names.empty() ? "" : ",") + n + ".ready";
    }
    log(out, LogLevel::kInfo, 0, "waiting before starting the program",
        {{"for", names}, {"in", cfg_.ready_dir}});
    if (cfg_.wait_for_timeout.count() > 0) {
      out.push_back(
          ArmTimer{TimerId{TimerKind::kWaitFor, 0}, cfg_.wait_for_timeout});
    }
    out.push_back(WatchReadyDir{});
    return out;
  }
  current_ = 1;
  spawn(out, 1);
  return out;
}

std::vector<Action> Supervisor::on_ready_dir(const ReadyDirEntry& e) {
  std::vector<Action> out;
  auto it = std::find_if(
      waiting_for_.begin(), waiting_for_.end(),
      [&e](const std::string& n) { return e.name == n + ".ready"; });
  if (it == waiting_for_.end()) return out;
  waiting_for_.erase(it);
  if (!waiting_for_.empty() || stopping_) return out;
  log(out, LogLevel::kInfo, 0, "every member waited for is ready: starting");
  out.push_back(CancelTimer{TimerId{TimerKind::kWaitFor, 0}});
  current_ = 1;
  spawn(out, 1);
  return out;
}

// byed ends before it started the program (a stop or an exit marker while
// it waited for --wait-for, or the wait timed out).
void Supervisor::end_without_child(std::vector<Action>& out, int code,
                                   const std::string& why) {
  log(out, code == 0 ? LogLevel::kInfo : LogLevel::kError, 0,
      "not starting: " + why);
  waiting_for_.clear();
  out.push_back(CancelTimer{TimerId{TimerKind::kWaitFor, 0}});
  exit_now(out, code, "not started: " + why);
}

// byed's last line, then its exit: the status and why.
void Supervisor::exit_now(std::vector<Action>& out, int code,
                          const std::string& reason) {
  log(out, LogLevel::kInfo, 0, "exiting",
      {{"status", std::to_string(code)}, {"reason", reason}});
  exited_ = true;
  out.push_back(ExitProcess{code});
}

void Supervisor::spawn(std::vector<Action>& out, int gen) {
  last_gen_ = std::max(last_gen_, gen);
  Generation g;
  g.num = gen;
  g.started_at = now_.real;
  gens_.push_back(g);
  // Only the serving generation owns the terminal: the first one from the
  // start (nothing else serves), an upgrade's once it takes over.
  out.push_back(SpawnGeneration{gen, gen == current_, !terminal_});
  out.push_back(
      ArmTimer{TimerId{TimerKind::kReadyTimeout, gen}, cfg_.ready_timeout});
}

std::vector<Action> Supervisor::on_spawned(const Spawned& e) {
  std::vector<Action> out;
  Generation* g = find_gen(e.gen);
  if (g == nullptr || g->spawned) return out;
  g->spawned = true;
  if (e.pid < 0) {
    g->error = e.error;
    // fork failed: there is no process to wait for.
    g->state = GenState::kExited;
    log(out, LogLevel::kError, e.gen, e.error);
    cancel_ready_timers(out, e.gen);
    if (e.gen == upgrading_) {
      fail_starting(out, *g, e.error);
      return out;
    }
    if (e.gen == current_ && !final_status_) {
      final_status_ = 1 << 8;  // as if it had exited 1
      final_pid_ = 0;
    }
    maybe_exit(out);
    return out;
  }
  g->pid = e.pid;
  children_ = true;
  if (stopping_) {
    // A stop arrived before this generation existed: it is stopped too.
    g->stop_signal = SIGTERM;
    out.push_back(SendSignal{e.pid, SIGTERM});
  }
  return out;
}

std::vector<Action> Supervisor::on_exec(const Exec& e) {
  std::vector<Action> out;
  Generation* g = find_gen(e.gen);
  if (g == nullptr || g->pid < 0) return out;
  if (!e.error.empty()) {
    // The child exits 126/127 and ChildExited follows; this is its reason.
    g->error = e.error;
    log(out, LogLevel::kError, e.gen, e.error);
    return out;
  }
  log(out, LogLevel::kInfo, e.gen, "started",
      {{"pid", pid_str(g->pid)}, {"program", cfg_.command.front()}});
  if (g->state != GenState::kStarting) return out;
  // Each rule starts counting from the program running, not from the fork:
  // a slow exec is not time spent alive, nor a warm-up.
  if (wants_alive(*g)) {
    Millis alive =
        cfg_.ready.alive.count() > 0 ? cfg_.ready.alive : Millis{1000};
    out.push_back(ArmTimer{TimerId{TimerKind::kReadyDelay, e.gen}, alive});
  }
  if (wants_accepting()) {
    out.push_back(ProbeAccepting{e.gen, g->pid, cfg_.ready.accepting_names});
  }
  g->ran_mono = now_.mono_ms;
  g->exec_ok.assign(cfg_.ready.exec.size(), false);
  if (!cfg_.ready.exec.empty()) run_ready_probe(out, *g);
  return out;
}

// ---- readiness --------------------------------------------------------------

std::vector<Action> Supervisor::on_ready(const ChildReady& e) {
  std::vector<Action> out;
  ever_messaged_ = true;  // from now on auto mode waits for a message
  Generation* g = find_gen(e.gen);
  if (g == nullptr || g->state != GenState::kStarting || g->pid < 0 ||
      g->said_ready) {
    return out;  // late, repeated, or from a generation on its way out
  }
  g->said_ready = true;
  g->said_via = e.via;
  check_ready(out, *g);
  return out;
}

// Whether starting generations are watched for waiting on the held sockets:
// asked for, or auto with sockets to watch, while it can be known.
bool Supervisor::wants_accepting() const {
  if (accepting_unknown_ || cfg_.held_sockets.empty()) return false;
  return cfg_.ready.accepting || cfg_.ready.automatic;
}

// Whether "alive for a while" is a rule for `g`: asked for; or where auto
// (or an accepting that cannot be seen) has nothing better — no socket to
// watch and no program that ever sent a message.
bool Supervisor::wants_alive(const Generation& g) const {
  if (cfg_.ready.alive.count() > 0) return true;
  const bool fallback =
      cfg_.ready.automatic || (cfg_.ready.accepting && accepting_unknown_);
  return fallback && !wants_accepting() && !ever_messaged_ && !g.said_ready;
}

// Makes `g` ready once every rule that applies to it holds (SPEC:
// Readiness). A stopped generation is never ready.
void Supervisor::check_ready(std::vector<Action>& out, Generation& g) {
  if (g.state != GenState::kStarting || g.pid < 0 || g.stopped || g.settling) {
    return;
  }
  const ReadyRules& r = cfg_.ready;
  // A message is needed when asked for, and under auto (or an accepting
  // that cannot be seen) once a program has shown it speaks a protocol.
  const bool fallback = r.automatic || (r.accepting && accepting_unknown_);
  const bool need_message =
      r.message || (fallback && (ever_messaged_ || g.said_ready));
  const bool need_accepting = wants_accepting();
  const bool need_alive =
      r.alive.count() > 0 || (fallback && !need_accepting && !need_message);
  if (need_message && !g.said_ready) return;
  if (need_accepting && !g.accepting) return;
  if (need_alive && !g.alive_enough) return;
  for (bool ok : g.exec_ok) {
    if (!ok) return;
  }
  std::string via;
  auto add = [&via](const std::string& what) {
    via += (via.empty() ? "" : ", ") + what;
  };
  if (need_accepting) add(g.accepting_via);
  if (need_message) add(g.said_via);
  if (need_alive) {
    add("alive " +
        format_duration(r.alive.count() > 0 ? r.alive : Millis{1000}));
  }
  for (const std::string& cmd : r.exec) add("exec " + cmd);
  cancel_ready_timers(out, g.num);
  g.ready_via = via;
  const Generation* old = find_gen(current_);
  const Millis settle = ready_settle(cfg_);
  if (g.num == upgrading_ && settle.count() > 0 && old != nullptr &&
      old->state == GenState::kReady && !stopping_) {
    // The old one keeps serving until the new one has stayed ready a while:
    // a release that fails a moment after it looks ready fails the upgrade.
    g.settling = true;
    log(out, LogLevel::kInfo, g.num, "ready; settling",
        {{"pid", pid_str(g.pid)},
         {"via", via},
         {"settle", format_duration(settle)}});
    out.push_back(ArmTimer{TimerId{TimerKind::kSettle, g.num}, settle});
    return;
  }
  become_ready(out, g, via);
}

void Supervisor::become_ready(std::vector<Action>& out, Generation& g,
                              const std::string& via) {
  if (stopping_) {
    return;  // being stopped: nothing to hand over to
  }
  g.state = GenState::kReady;
  g.ready_at = now_.real;
  g.ready_mono = now_.mono_ms;
  if (cfg_.upgrade_signal > 0 && !warned_caught_) {
    // Ready means set up: its signal handlers are in place by now.
    out.push_back(ReadCaughtSignals{g.num, g.pid});
  }
  if (!cfg_.health.empty()) {
    out.push_back(
        ArmTimer{TimerId{TimerKind::kHealth, g.num}, cfg_.health_interval});
  }
  std::string status =
      "gen " + std::to_string(g.num) + " ready (pid " + pid_str(g.pid) + ")";
  if (g.num == upgrading_) {
    Generation* old = find_gen(current_);
    upgrading_ = 0;
    current_ = g.num;
    upgraded_ = true;
    if (serving_lost_) {
      // The serving one had died meanwhile: this one serves now, byed goes on.
      serving_lost_ = false;
      final_status_.reset();
    }
    // The terminal goes to the new one, and in a terminal so does a CONT:
    // a member may have been stopped reading it from the background.
    out.push_back(GiveTerminal{g.pid});
    if (terminal_) {
      out.push_back(SendSignal{g.pid, SIGCONT, Target::kGroupThenProcess});
    }
    log(out, LogLevel::kInfo, g.num, "upgrade done: ready",
        {{"pid", pid_str(g.pid)},
         {"via", via},
         {"old_gen", old ? std::to_string(old->num) : "-"}});
    if (old != nullptr && old->state == GenState::kReady) {
      drain(out, *old, cfg_.drain_signal);
    }
    out.push_back(NotifySystemd{NotifySystemd::State::kReady, status});
    UpgradeResult r;
    r.ok = true;
    r.gen = g.num;
    r.pid = g.pid;
    finish_upgrade(out, r);
  } else if (g.restarted) {
    log(out, LogLevel::kInfo, g.num, "restarted: ready",
        {{"pid", pid_str(g.pid)}, {"via", via}});
    out.push_back(GiveTerminal{g.pid});
    out.push_back(
        NotifySystemd{NotifySystemd::State::kNone, status + ", restarted"});
    final_status_.reset();
    forced_exit_code_.reset();
  } else {
    log(out, LogLevel::kInfo, g.num, "ready",
        {{"pid", pid_str(g.pid)}, {"via", via}});
  }
  if (!first_ready_) {
    first_ready_ = true;
    out.push_back(WritePidfile{});
    if (!cfg_.ready_dir.empty()) out.push_back(WriteReadyMarker{});
    out.push_back(NotifySystemd{NotifySystemd::State::kReady, status});
  }
  if (upgrade_pending_) {
    upgrade_pending_ = false;
    start_upgrade(out);
  }
}

// A program that catches the upgrade signal expects it, but byed takes it
// (tini and dumb-init forwarded it): said once per run, as a warning.
std::vector<Action> Supervisor::on_signals_caught(const SignalsCaught& e) {
  std::vector<Action> out;
  const Generation* g = find_gen(e.gen);
  if (warned_caught_ || g == nullptr || g->pid != e.pid ||
      !catches_upgrade_signal(e.mask, cfg_.upgrade_signal)) {
    return out;
  }
  warned_caught_ = true;
  const std::string sig = signal_name(cfg_.upgrade_signal);
  log(out, LogLevel::kWarn, g->num,
      "the program catches " + sig + ", byed's upgrade signal: " + sig +
          " sent to byed starts a new copy of the program and stops this "
          "one once it is ready, and never reaches the program; to keep " +
          sig + " for the program, run byed with --upgrade-signal none " +
          "(upgrade with `byed ctl upgrade`) or another signal",
      {{"pid", pid_str(g->pid)}, {"signal", sig}});
  return out;
}

void Supervisor::cancel_ready_timers(std::vector<Action>& out, int gen) {
  out.emplace_back(CancelTimer{TimerId{TimerKind::kReadyTimeout, gen}});
  out.emplace_back(CancelTimer{TimerId{TimerKind::kReadyDelay, gen}});
  out.emplace_back(CancelTimer{TimerId{TimerKind::kAcceptProbe, gen}});
  out.emplace_back(CancelTimer{TimerId{TimerKind::kSettle, gen}});
  if (!cfg_.ready.exec.empty()) {
    out.emplace_back(CancelTimer{TimerId{TimerKind::kReadyProbe, gen}});
    out.emplace_back(StopProbes{gen});
  }
}

// A starting generation died or was not ready in time.
void Supervisor::fail_starting(std::vector<Action>& out, Generation& g,
                               const std::string& reason) {
  if (g.num == upgrading_) {
    upgrading_ = 0;
    log(out, LogLevel::kError, g.num, "upgrade failed: " + reason,
        {{"serving_gen", std::to_string(current_)}});
    out.push_back(NotifySystemd{NotifySystemd::State::kReady,
                                "upgrade failed: " + reason});
    UpgradeResult r;
    r.gen = g.num;
    r.pid = g.pid;
    r.reason = reason;
    finish_upgrade(out, r);
    if (g.state != GenState::kExited) {
      drain(out, g, SIGTERM);
    } else if (g.lingering) {
      // Its leader died; what it started goes too.
      g.stop_signal = SIGTERM;
      out.push_back(SendSignal{g.pid, SIGTERM, Target::kGroup});
      if (cfg_.stop_timeout.count() > 0) {
        out.push_back(
            ArmTimer{TimerId{TimerKind::kDrainKill, g.num}, cfg_.stop_timeout});
      }
    }
    if (serving_lost_ && !stopping_) {
      // The serving generation died while this one started: nothing serves.
      serving_lost_ = false;
      if (Generation* cur = find_gen(current_); cur && final_status_) {
        end_serving(out, *cur, *final_status_);
      }
      return;
    }
    if (upgrade_pending_ && !stopping_) {
      upgrade_pending_ = false;
      start_upgrade(out);
    }
    return;
  }
  // The current generation (the first, or a restart): nothing serves.
  forced_exit_code_ = 1;
  forced_reason_ = "gen " + std::to_string(g.num) + " not ready: " + reason;
  g.failed = true;
  if (cfg_.restart != RestartPolicy::kNo && !stopping_ &&
      g.state != GenState::kExited) {
    // Stopped like a drained one; its end decides the restart.
    log(out, LogLevel::kError, g.num, "not ready: " + reason);
    drain(out, g, SIGTERM);
    return;
  }
  log(out, LogLevel::kError, g.num, "not ready: " + reason + "; stopping");
  if (g.state != GenState::kExited && !stopping_) {
    out.push_back(
        NotifySystemd{NotifySystemd::State::kStopping, "not ready: " + reason});
    begin_stop(out, SIGTERM);
  }
}

// Tells a generation to stop, and SIGKILLs it after stop-timeout.
void Supervisor::drain(std::vector<Action>& out, Generation& g, int sig) {
  g.state = GenState::kDraining;
  g.stop_signal = sig;
  log(out, LogLevel::kInfo, g.num, "draining",
      {{"pid", pid_str(g.pid)}, {"signal", signal_name(sig)}});
  out.push_back(SendSignal{g.pid, sig});
  if (cfg_.stop_timeout.count() > 0) {
    out.push_back(
        ArmTimer{TimerId{TimerKind::kDrainKill, g.num}, cfg_.stop_timeout});
  }
}

// ---- upgrades ---------------------------------------------------------------

void Supervisor::request_upgrade(std::vector<Action>& out,
                                 const std::string& source) {
  if (stopping_ || delayed_stop_ != 0) {
    log(out, LogLevel::kWarn, 0, "upgrade ignored: stopping",
        {{"source", source}});
    return;
  }
  Generation* cur = find_gen(current_);
  if (upgrading_ != 0 || cur == nullptr || cur->state != GenState::kReady) {
    // In flight, or the first generation is not ready yet: coalesce into
    // at most one more, run when this one is settled.
    if (!upgrade_pending_) {
      log(out, LogLevel::kInfo, 0, "upgrade queued",
          {{"source", source},
           {"waiting_for",
            std::to_string(upgrading_ ? upgrading_ : current_)}});
    }
    upgrade_pending_ = true;
    return;
  }
  log(out, LogLevel::kInfo, 0, "upgrade requested", {{"source", source}});
  start_upgrade(out);
}

// Answers everyone waiting on the upgrade that just ended, and keeps it for
// status.
void Supervisor::finish_upgrade(std::vector<Action>& out, UpgradeResult r) {
  if (const Generation* g = find_gen(r.gen)) r.started_at = g->started_at;
  r.finished_at = now_.real;
  for (ConnId conn : upgrade_waiters_) out.push_back(ReplyUpgrade{conn, r});
  upgrade_waiters_.clear();
  if (r.gen != 0) last_upgrade_ = std::move(r);
}

void Supervisor::start_upgrade(std::vector<Action>& out) {
  int gen = ++last_gen_;
  upgrading_ = gen;
  out.push_back(
      NotifySystemd{NotifySystemd::State::kReloading,
                    "upgrading: starting gen " + std::to_string(gen)});
  spawn(out, gen);
}

// ---- signals, stop, exit-dir ----------------------------------------------

// What a received signal is sent on as (--rewrite): 0 means dropped.
int Supervisor::forwarded_as(int sig) const {
  for (const auto& [from, to] : cfg_.rewrite) {
    if (from == sig) return to;
  }
  return sig;
}

// The target of a signal for the serving generation: --forward-to.
Target Supervisor::forward_target() const {
  return cfg_.forward_to_group ? Target::kGroupThenProcess : Target::kProcess;
}

std::vector<Action> Supervisor::on_signal(int sig) {
  std::vector<Action> out;
  // What a signal means is decided on the signal received; what is sent on
  // is the rewritten one. A signal rewritten to none is ignored outright.
  const int as = forwarded_as(sig);
  if (as == 0) {
    if (cfg_.log_level >= LogLevel::kDebug) {
      log(out, LogLevel::kDebug, 0, "signal ignored (--rewrite)",
          {{"signal", signal_name(sig)}});
    }
    return out;
  }
  switch (classify_signal(sig, cfg_.upgrade_signal)) {
    case SignalClass::kReap:
      return out;  // the shell reaps; exits arrive as ChildExited
    case SignalClass::kUpgrade:
      request_upgrade(out, "signal " + signal_name(sig));
      return out;
    case SignalClass::kStop:
      request_stop(
          out, as,
          as == sig ? "signal" : "signal " + signal_name(sig) + " (rewritten)");
      return out;
    case SignalClass::kForward:
      break;
  }
  Generation* g = find_gen(current_);
  const bool live = g != nullptr && g->pid > 0 && g->state != GenState::kExited;
  if (sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU) {
    // Job control reaches byed itself (kill -TSTP, or Ctrl-Z while byed's
    // group has the terminal): the program stops, then byed, so the shell
    // sees its job stop. As dumb-init does. Without a terminal each
    // generation has a session of its own, an orphaned process group the
    // kernel delivers no TSTP/TTIN/TTOU to: it gets STOP, which always
    // stops it.
    if (live) {
      out.push_back(SendSignal{g->pid, terminal_ ? as : SIGSTOP,
                               Target::kGroupThenProcess});
    }
    stop_job(out);
    return out;
  }
  if (sig == SIGCONT) {
    // The job goes on: the serving generation gets the terminal back (if
    // byed's group was just put in the foreground) and its whole group,
    // stopped by the terminal, continues.
    if (live) {
      out.push_back(GiveTerminal{g->pid});
      out.push_back(SendSignal{g->pid, as, Target::kGroupThenProcess});
    }
    return out;
  }
  if (live) {
    if (cfg_.log_level >= LogLevel::kDebug) {
      log(out, LogLevel::kDebug, g->num, "forwarding signal",
          {{"signal", signal_name(as)}, {"pid", pid_str(g->pid)}});
    }
    out.push_back(SendSignal{g->pid, as, forward_target()});
  }
  return out;
}

// A control request: the rules for each command, in one place.
std::vector<Action> Supervisor::on_control(const ControlRequest& r) {
  std::vector<Action> out;
  switch (r.cmd) {
    case Command::kStatus:
      out.push_back(ReplyStatus{r.conn});
      break;
    case Command::kUpgrade:
      if (stopping_ || delayed_stop_ != 0) {
        out.push_back(ReplyError{r.conn, "byed is stopping"});
        break;
      }
      // Every waiter gets the result of the upgrade that settles next: the
      // one in flight if there is one (a control request joins it, and an
      // upgrade a signal queued behind it stays queued), else the one this
      // request starts, or queues until the first generation is ready.
      upgrade_waiters_.push_back(r.conn);
      if (upgrading_ == 0) request_upgrade(out, "control");
      break;
    case Command::kStop:
      out.push_back(ReplyStopping{r.conn});
      request_stop(out, SIGTERM, "control");
      break;
  }
  return out;
}

// A stop asked for by a signal or the control socket: every generation gets
// `sig`; asking again forwards it again.
void Supervisor::request_stop(std::vector<Action>& out, int sig,
                              const std::string& source) {
  if (stop_reason_.empty()) {
    stop_reason_ =
        "stop requested by " +
        (source == "signal"     ? "signal " + signal_name(sig)
         : source == "control"  ? std::string("byed ctl stop")
         : source == "terminal" ? "the terminal (" + signal_name(sig) + ")"
                                : source);
  }
  if (!stopping_ && delayed_stop_ == 0 && cfg_.stop_delay.count() > 0 &&
      waiting_for_.empty()) {
    // --stop-delay: say STOPPING=1 at once and keep serving a while, so
    // load balancers stop sending before the program stops taking.
    delayed_stop_ = sig;
    log(out, LogLevel::kInfo, 0, "stopping after --stop-delay; still serving",
        {{"signal", signal_name(sig)},
         {"source", source},
         {"delay", format_duration(cfg_.stop_delay)}});
    out.push_back(
        NotifySystemd{NotifySystemd::State::kStopping,
                      "stopping in " + format_duration(cfg_.stop_delay)});
    out.push_back(ArmTimer{TimerId{TimerKind::kStopDelay, 0}, cfg_.stop_delay});
    return;
  }
  if (delayed_stop_ != 0) {
    // A second stop signal ends the delay.
    delayed_stop_ = 0;
    out.push_back(CancelTimer{TimerId{TimerKind::kStopDelay, 0}});
    log(out, LogLevel::kInfo, 0, "stopping",
        {{"signal", signal_name(sig)},
         {"source", source},
         {"delay", "cut short"}});
    begin_stop(out, sig);
    return;
  }
  const bool again = stopping_;
  // The signals go out first: a line on stderr and a datagram to systemd
  // are not worth delaying the program's stop for (the stop path users
  // hit; see the README's performance section).
  std::vector<Action> stop;
  begin_stop(stop, sig);
  auto rest = std::stable_partition(
      stop.begin(), stop.end(),
      [](const Action& a) { return std::holds_alternative<SendSignal>(a); });
  out.insert(out.end(), std::make_move_iterator(stop.begin()),
             std::make_move_iterator(rest));
  if (again) {
    log(out, LogLevel::kInfo, 0, "stop signal forwarded again",
        {{"signal", signal_name(sig)}, {"source", source}});
  } else {
    log(out, LogLevel::kInfo, 0, "stopping",
        {{"signal", signal_name(sig)}, {"source", source}});
    out.push_back(NotifySystemd{NotifySystemd::State::kStopping, ""});
  }
  out.insert(out.end(), std::make_move_iterator(rest),
             std::make_move_iterator(stop.end()));
}

std::vector<Action> Supervisor::on_exit_dir(const ExitDirEntry& e) {
  std::vector<Action> out;
  if (!cfg_.follower() || stopping_) return out;
  stopped_by_exit_dir_ = true;
  log(out, LogLevel::kInfo, 0, "exit dir entry appeared: stopping",
      {{"entry", e.name}});
  if (started_) {
    out.push_back(NotifySystemd{NotifySystemd::State::kStopping, ""});
    begin_stop(out, SIGTERM);
  }
  return out;
}

void Supervisor::stop_job(std::vector<Action>& out) {
  if (cfg_.log_level >= LogLevel::kDebug) {
    log(out, LogLevel::kDebug, 0, "job stopped: stopping byed too");
  }
  out.push_back(StopSelf{});
}

// A generation's program was stopped. By the terminal (Ctrl-Z, or reading
// from it in the background), it is the job that stops: byed too, so that
// the shell gets its prompt back and `fg` continues both. A stopped
// generation is never ready until it continues.
std::vector<Action> Supervisor::on_stopped(const ChildStopped& e) {
  std::vector<Action> out;
  Generation* g = find_pid(e.pid);
  if (g == nullptr) return out;
  g->stopped = true;
  if (g->num != current_ || stopping_) return out;
  if (e.sig == SIGTSTP || e.sig == SIGTTIN || e.sig == SIGTTOU) stop_job(out);
  return out;
}

std::vector<Action> Supervisor::on_continued(const ChildContinued& e) {
  std::vector<Action> out;
  Generation* g = find_pid(e.pid);
  if (g == nullptr || !g->stopped) return out;
  g->stopped = false;
  if (g->settling) {
    // The window starts again: stopped is not ready.
    out.push_back(
        ArmTimer{TimerId{TimerKind::kSettle, g->num}, ready_settle(cfg_)});
  }
  check_ready(out, *g);
  return out;
}

// ---- probes ---------------------------------------------------------------

std::vector<Action> Supervisor::on_accepting(const AcceptingProbed& e) {
  std::vector<Action> out;
  Generation* g = find_gen(e.gen);
  if (g == nullptr || g->state != GenState::kStarting || g->pid < 0) {
    return out;
  }
  switch (e.result) {
    case AcceptingProbed::Result::kAccepting:
      g->accepting = true;
      g->accepting_via = e.via;
      check_ready(out, *g);
      break;
    case AcceptingProbed::Result::kNotYet: {
      // Often at first (a server that is up at once is ready at once),
      // then less often: 5, 10, 20 ... 200 ms.
      int64_t after = 5;
      for (int i = 0; i < g->accept_probes && after < 200; ++i) after *= 2;
      ++g->accept_probes;
      out.push_back(ArmTimer{TimerId{TimerKind::kAcceptProbe, g->num},
                             Millis{std::min<int64_t>(after, 200)}});
      if (!g->hinted && g->ran_mono >= 0 &&
          now_.mono_ms - g->ran_mono >= kAcceptingHintMs) {
        // A program that binds its own port never waits on byed's: say
        // how to tell byed, once, long before --ready-timeout.
        g->hinted = true;
        log(out, LogLevel::kWarn, g->num,
            "not waiting on the held sockets yet; a program that binds its "
            "own port instead needs --ready exec:CMD or --ready DUR",
            {{"running_for",
              format_duration(Millis{now_.mono_ms - g->ran_mono})}});
      }
      break;
    }
    case AcceptingProbed::Result::kUnknown:
      // Said once; every generation falls back to the next rule.
      accepting_unknown_ = true;
      log(out, LogLevel::kWarn, g->num,
          "cannot see whether the program accepts on its sockets; readiness "
          "falls back to a message, else alive 1s",
          {{"reason", e.via}});
      for (auto& other : gens_) {
        if (other.state != GenState::kStarting || other.pid < 0) continue;
        if (wants_alive(other)) {
          out.push_back(ArmTimer{
              TimerId{TimerKind::kReadyDelay, other.num},
              cfg_.ready.alive.count() > 0 ? cfg_.ready.alive : Millis{1000}});
        }
        check_ready(out, other);
      }
      break;
  }
  return out;
}

// A probe's timeout: its interval, at least 1 s.
static Millis probe_timeout(Millis interval) {
  return std::max(interval, Millis{1000});
}

// The next --ready exec: rule `g` has not passed yet, one at a time.
void Supervisor::run_ready_probe(std::vector<Action>& out, Generation& g) {
  for (size_t i = 0; i < g.exec_ok.size(); ++i) {
    if (g.exec_ok[i]) continue;
    out.push_back(RunProbe{g.num, g.pid, ProbeKind::kReady, static_cast<int>(i),
                           cfg_.ready.exec[i],
                           probe_timeout(cfg_.ready_interval)});
    return;
  }
}

void Supervisor::run_health_probe(std::vector<Action>& out,
                                  const Generation& g) {
  out.push_back(RunProbe{g.num, g.pid, ProbeKind::kHealth, 0, cfg_.health,
                         probe_timeout(cfg_.health_interval)});
}

std::vector<Action> Supervisor::on_probe_done(const ProbeDone& e) {
  std::vector<Action> out;
  Generation* g = find_gen(e.gen);
  if (g == nullptr || g->state == GenState::kExited || stopping_) return out;
  if (cfg_.log_level >= LogLevel::kDebug) {
    log(out, LogLevel::kDebug, g->num,
        e.kind == ProbeKind::kReady ? "ready probe" : "health probe",
        {{"ok", e.ok ? "yes" : "no"}, {"detail", e.detail}});
  }
  if (e.kind == ProbeKind::kReady) {
    if (g->state != GenState::kStarting || g->settling || e.index < 0 ||
        static_cast<size_t>(e.index) >= g->exec_ok.size()) {
      return out;
    }
    if (e.ok) g->exec_ok[static_cast<size_t>(e.index)] = true;
    check_ready(out, *g);
    if (g->state == GenState::kStarting && !g->settling) {
      out.push_back(ArmTimer{TimerId{TimerKind::kReadyProbe, g->num},
                             e.ok ? Millis{0} : cfg_.ready_interval});
    }
    return out;
  }
  // Health of the serving generation: N failures in a row mean hung.
  if (g->num != current_ || g->state != GenState::kReady || g->failed) {
    return out;
  }
  g->health_failures = e.ok ? 0 : g->health_failures + 1;
  if (!e.ok) {
    log(out, LogLevel::kWarn, g->num, "health probe failed",
        {{"failures", std::to_string(g->health_failures)},
         {"of", std::to_string(cfg_.health_failures)},
         {"detail", e.detail}});
  }
  if (g->health_failures >= cfg_.health_failures) {
    hung(out, *g, std::to_string(g->health_failures) + " health probes failed");
    return out;
  }
  out.push_back(
      ArmTimer{TimerId{TimerKind::kHealth, g->num}, cfg_.health_interval});
  return out;
}

// Sends sig to every live generation (to the leader; to the group where
// only the group is left) and to adopted orphans; the first call abandons
// an upgrade in flight and arms the kill timer.
void Supervisor::begin_stop(std::vector<Action>& out, int sig) {
  if (!waiting_for_.empty() && gens_.empty()) {
    // Stopped before the program ever ran: as if it had been killed by the
    // signal, or 0 when the group told it to stop (EXIT_DIR).
    end_without_child(out, stopped_by_exit_dir_ ? 0 : 128 + sig,
                      "stopped while waiting for --wait-for");
    return;
  }
  if (!stopping_) {
    stopping_ = true;
    upgrade_pending_ = false;
    if (restart_pending_) {
      // No restart: the stop is at once, with the last generation's status.
      restart_pending_ = false;
      restarts_.next_at.reset();
      out.push_back(CancelTimer{TimerId{TimerKind::kRestart, 0}});
    }
    if (upgrading_ != 0 || !upgrade_waiters_.empty()) {
      if (upgrading_ != 0) cancel_ready_timers(out, upgrading_);
      UpgradeResult r;
      r.gen = upgrading_;
      r.reason = "byed is stopping";
      finish_upgrade(out, r);
      upgrading_ = 0;
    }
    if (cfg_.stop_timeout.count() > 0) {
      out.push_back(
          ArmTimer{TimerId{TimerKind::kStopKill, 0}, cfg_.stop_timeout});
    }
    if (!cfg_.ready.exec.empty() || !cfg_.health.empty()) {
      out.push_back(StopProbes{0});
    }
  }
  std::vector<int> groups;
  for (auto& g : gens_) {
    if (g.pid <= 0 || !g.alive()) continue;
    g.stop_signal = sig;
    groups.push_back(g.pid);
    if (g.state != GenState::kExited) {
      out.push_back(SendSignal{g.pid, sig, forward_target()});
    } else {
      out.push_back(SendSignal{g.pid, sig, Target::kGroup});
    }
  }
  stop_signal_ = sig;
  if (children_) out.push_back(SignalOrphans{sig, std::move(groups)});
  maybe_exit(out);
}

// While stopping, a process that dies leaves its children to byed: they are
// orphans now, and get the stop signal too (the shell sends it once each).
void Supervisor::signal_new_orphans(std::vector<Action>& out) {
  if (!stopping_ || !children_ || stop_signal_ == 0) return;
  std::vector<int> groups;
  for (const auto& g : gens_) {
    if (g.pid > 0 && g.alive()) groups.push_back(g.pid);
  }
  out.push_back(SignalOrphans{stop_signal_, std::move(groups)});
}

// SIGKILL to what is left of a generation: its whole group.
void Supervisor::kill_group(std::vector<Action>& out, const Generation& g) {
  if (g.pid <= 0 || !g.alive()) return;
  log(out, LogLevel::kWarn, g.num,
      "still running after stop-timeout, sending KILL",
      {{"pid", pid_str(g.pid)},
       {"stop_timeout", format_duration(cfg_.stop_timeout)}});
  out.push_back(SendSignal{g.pid, SIGKILL,
                           g.state == GenState::kExited
                               ? Target::kGroup
                               : Target::kGroupThenProcess});
}

// ---- exits and timers -----------------------------------------------------

std::vector<Action> Supervisor::on_exited(const ChildExited& e) {
  std::vector<Action> out;
  children_ = e.children_left;
  const bool was_stopping = stopping_;
  Generation* g = find_pid(e.pid);
  if (g == nullptr) {
    if (cfg_.log_level >= LogLevel::kDebug) {
      log(out, LogLevel::kDebug, 0, "reaped orphan",
          {{"pid", pid_str(e.pid)},
           {"status", describe_wait_status(e.wait_status)}});
    }
    if (was_stopping) signal_new_orphans(out);
    maybe_exit(out);
    return out;
  }
  GenState was = g->state;
  g->state = GenState::kExited;
  g->lingering = e.group_alive;
  // A program that could not run was said in one line ("cannot run ..."):
  // its 127 or 126 is no news but at debug.
  const LogLevel exited_level =
      g->error.empty() ? LogLevel::kInfo : LogLevel::kDebug;
  if (cfg_.log_level >= exited_level) {
    log(out, exited_level, g->num, "exited",
        {{"pid", pid_str(g->pid)},
         {"status", describe_wait_status(e.wait_status)}});
  }
  if (g->lingering) {
    // The leader is gone, not its group: what is left gets the signal the
    // leader got (the kill timer, if armed, stays for the group), and byed
    // waits for it.
    out.push_back(WatchGroup{g->num, g->pid});
    if (g->stop_signal != 0) {
      log(out, LogLevel::kInfo, g->num, "signalling the rest of its group",
          {{"pgid", pid_str(g->pid)}, {"signal", signal_name(g->stop_signal)}});
      out.push_back(SendSignal{g->pid, g->stop_signal, Target::kGroup});
    }
  } else {
    out.push_back(CancelTimer{TimerId{TimerKind::kDrainKill, g->num}});
  }

  if (was == GenState::kStarting) {
    cancel_ready_timers(out, g->num);
    std::string reason =
        !g->error.empty() ? g->error
        : g->settling ? "exited within --ready-settle after it was ready (" +
                            describe_wait_status(e.wait_status) + ")"
                      : "exited before it was ready (" +
                            describe_wait_status(e.wait_status) + ")";
    g->settling = false;
    if (g->num == upgrading_) {
      fail_starting(out, *g, reason);
      maybe_exit(out);
      return out;
    }
  }
  if (g->num == current_) {
    final_status_ = e.wait_status;
    final_pid_ = g->pid;
    final_started_at_ = g->started_at;
    out.push_back(CancelTimer{TimerId{TimerKind::kWatchdog, g->num}});
    if (!cfg_.health.empty()) {
      out.push_back(CancelTimer{TimerId{TimerKind::kHealth, g->num}});
      out.push_back(StopProbes{g->num});
    }
    const int sig = WIFSIGNALED(e.wait_status) ? WTERMSIG(e.wait_status) : 0;
    if (stopping_) {
      // Being stopped: its end is what was asked for.
    } else if (delayed_stop_ != 0) {
      // It ended during --stop-delay: the stop goes on at once.
      const int stop = delayed_stop_;
      delayed_stop_ = 0;
      out.push_back(CancelTimer{TimerId{TimerKind::kStopDelay, 0}});
      begin_stop(out, stop);
    } else if (e.had_terminal && (sig == SIGINT || sig == SIGQUIT)) {
      // Ctrl-C or Ctrl-\ on byed's terminal reached the program, not byed:
      // the user stopped the job. A stop, never a crash to restart; byed
      // exits 130/131 as a shell would.
      request_stop(out, sig, "terminal");
    } else {
      end_serving(out, *g, e.wait_status);
    }
  }
  if (was_stopping) signal_new_orphans(out);
  maybe_exit(out);
  return out;
}

// The serving generation ended and nobody asked byed to stop: restart it,
// let an upgrade in flight take over, or end byed.
void Supervisor::end_serving(std::vector<Action>& out, Generation& g,
                             int wait_status) {
  if (upgrading_ != 0) {
    log(out, LogLevel::kWarn, g.num,
        "serving generation ended during an upgrade: the new one takes over "
        "once ready",
        {{"new_gen", std::to_string(upgrading_)}});
    serving_lost_ = true;
    return;
  }
  if (wants_restart(g, wait_status) && schedule_restart(out, g, wait_status)) {
    return;
  }
  if (upgraded_ && !g.failed && WIFEXITED(wait_status) &&
      WEXITSTATUS(wait_status) == 0) {
    // After an upgrade the program is a service: ending on its own is not
    // success, whatever its code says. Exit 0 would tell systemd
    // (Restart=on-failure) or the orchestrator that all is well while
    // nothing serves.
    log(out, LogLevel::kError, g.num,
        "serving generation ended on its own after an upgrade (exit code "
        "0): nothing serves; byed exits 1");
    forced_exit_code_ = 1;
    forced_reason_ = "gen " + std::to_string(g.num) +
                     " ended on its own after an upgrade (exit code 0)";
  }
  out.push_back(GiveTerminal{0});  // nothing takes over: back to byed's
  // byed ends, after what else it runs: named as what it is.
  if (any_alive() || children_) {
    const bool others = std::any_of(
        gens_.begin(), gens_.end(),
        [&g](const Generation& o) { return o.num != g.num && o.alive(); });
    log(out, LogLevel::kInfo, 0,
        others        ? "current generation ended: stopping the others"
        : g.lingering ? "current generation ended: stopping what is left of "
                        "its process group"
                      : "current generation ended: stopping the processes "
                        "it left behind");
    out.push_back(NotifySystemd{NotifySystemd::State::kStopping, ""});
    begin_stop(out, SIGTERM);
  }
}

// Exit 0, or a code or signal --success-status declares success.
bool Supervisor::is_success(int wait_status) const {
  int code = exit_code_from_wait_status(wait_status);
  if (WIFEXITED(wait_status) && code == 0) return true;
  return std::find(cfg_.success_status.begin(), cfg_.success_status.end(),
                   code) != cfg_.success_status.end();
}

bool Supervisor::wants_restart(const Generation& g, int wait_status) const {
  switch (cfg_.restart) {
    case RestartPolicy::kNo:
      return false;
    case RestartPolicy::kAlways:
      return true;
    case RestartPolicy::kOnFailure:
      // A status declared success (--success-status) is no failure, as
      // systemd's SuccessExitStatus=.
      return g.failed || !is_success(wait_status);
  }
  return false;
}

// Arms the back-off before the next generation, unless the burst limit is
// reached (then false: byed gives up and ends with this status, so the
// orchestrator sees the crash loop).
bool Supervisor::schedule_restart(std::vector<Action>& out, Generation& g,
                                  int wait_status) {
  std::string reason =
      "gen " + std::to_string(g.num) + " " +
      (g.failed && WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGTERM
           ? std::string("was not ready")
           : describe_wait_status(wait_status));
  const int64_t now = now_.mono_ms;
  const int64_t window = cfg_.restart_interval.count();
  restart_times_.erase(
      std::remove_if(restart_times_.begin(), restart_times_.end(),
                     [&](int64_t t) { return t <= now - window; }),
      restart_times_.end());
  if (static_cast<int>(restart_times_.size()) >= cfg_.restart_burst) {
    log(out, LogLevel::kError, g.num, "restart limit reached: giving up",
        {{"reason", reason},
         {"restarts", std::to_string(restart_times_.size())},
         {"within", format_duration(cfg_.restart_interval)}});
    out.push_back(NotifySystemd{NotifySystemd::State::kNone,
                                "restart limit reached: " + reason});
    return false;
  }
  restart_times_.push_back(now);
  // A generation that stayed ready a while was no crash loop.
  if (g.ready_mono >= 0 && now - g.ready_mono >= cfg_.restart_stable.count()) {
    backoff_steps_ = 0;
  }
  Millis delay = cfg_.restart_delay;
  for (int i = 0; i < backoff_steps_ && delay < cfg_.restart_delay_max; ++i) {
    delay *= 2;
  }
  delay = std::min(delay, cfg_.restart_delay_max);
  if (backoff_steps_ < 62) ++backoff_steps_;
  restart_pending_ = true;
  forced_exit_code_.reset();  // the next attempt decides anew
  ++restarts_.count;
  restarts_.last_reason = reason;
  timespec at = now_.real;
  at.tv_sec += delay.count() / 1000;
  at.tv_nsec += (delay.count() % 1000) * 1000000;
  if (at.tv_nsec >= 1000000000) {
    at.tv_sec += 1;
    at.tv_nsec -= 1000000000;
  }
  restarts_.next_at = at;
  log(out, LogLevel::kWarn, g.num, "restarting",
      {{"reason", reason},
       {"in", format_duration(delay)},
       {"restart", std::to_string(restarts_.count)}});
  out.push_back(
      NotifySystemd{NotifySystemd::State::kNone,
                    "restarting in " + format_duration(delay) + ": " + reason});
  out.push_back(GiveTerminal{0});
  if (g.lingering) {
    // What the crashed one left behind goes: its code is the old one.
    g.stop_signal = SIGTERM;
    out.push_back(SendSignal{g.pid, SIGTERM, Target::kGroup});
    if (cfg_.stop_timeout.count() > 0) {
      out.push_back(
          ArmTimer{TimerId{TimerKind::kDrainKill, g.num}, cfg_.stop_timeout});
    }
  }
  out.push_back(ArmTimer{TimerId{TimerKind::kRestart, 0}, delay});
  return true;
}

// The serving generation is hung: ABRT (a core dump to look at), KILL after
// --stop-timeout, and its end decides the restart — as systemd does.
void Supervisor::hung(std::vector<Action>& out, Generation& g,
                      const std::string& why) {
  if (g.failed) return;  // already being killed
  g.failed = true;
  g.stop_signal = SIGTERM;  // for what it leaves behind
  log(out, LogLevel::kError, g.num, "hung: " + why + "; sending ABRT",
      {{"pid", pid_str(g.pid)}});
  out.push_back(SendSignal{g.pid, SIGABRT});
  if (cfg_.stop_timeout.count() > 0) {
    out.push_back(
        ArmTimer{TimerId{TimerKind::kDrainKill, g.num}, cfg_.stop_timeout});
  }
}

// WATCHDOG=, STATUS=, EXTEND_TIMEOUT_USEC= from a generation: relayed to
// systemd for the serving one only, and fed to --watchdog.
std::vector<Action> Supervisor::on_said(const ChildSaid& e) {
  std::vector<Action> out;
  Generation* g = find_gen(e.gen);
  if (g == nullptr || g->state == GenState::kExited || stopping_) return out;
  const bool current = g->num == current_;
  const bool serving = current && g->state == GenState::kReady;
  if (e.status) {
    if (cfg_.log_level >= LogLevel::kDebug) {  // a chatty child: debug only
      log(out, LogLevel::kDebug, g->num, "status", {{"status", *e.status}});
    }
    if (current) {
      out.push_back(
          NotifySystemd{NotifySystemd::State::kNone,
                        "gen " + std::to_string(g->num) + ": " + *e.status});
    }
  }
  if (e.extend_timeout_usec > 0 && current && !first_ready_) {
    // Only while byed itself is starting: systemd waits for byed's READY=1.
    NotifySystemd n;
    n.extend_timeout_usec = e.extend_timeout_usec;
    out.push_back(n);
  }
  if (serving && (e.watchdog || e.watchdog_trigger)) {
    if (cfg_.systemd_watchdog_usec > 0) {
      out.push_back(NotifySystemd{e.watchdog_trigger
                                      ? NotifySystemd::State::kWatchdogTrigger
                                      : NotifySystemd::State::kWatchdog,
                                  ""});
    }
    if (cfg_.watchdog.count() > 0) {
      if (e.watchdog_trigger) {
        hung(out, *g, "it sent WATCHDOG=trigger");
      } else if (!g->failed) {
        out.push_back(
            ArmTimer{TimerId{TimerKind::kWatchdog, g->num}, cfg_.watchdog});
      }
    }
  }
  return out;
}

std::vector<Action> Supervisor::on_group_empty(const GroupEmpty& e) {
  std::vector<Action> out;
  Generation* g = find_gen(e.gen);
  if (g == nullptr || !g->lingering) return out;
  g->lingering = false;
  if (cfg_.log_level >= LogLevel::kDebug) {
    log(out, LogLevel::kDebug, g->num, "process group gone",
        {{"pgid", pid_str(g->pid)}});
  }
  out.push_back(CancelTimer{TimerId{TimerKind::kDrainKill, g->num}});
  maybe_exit(out);
  return out;
}

std::vector<Action> Supervisor::on_timer(const TimerId& id) {
  std::vector<Action> out;
  switch (id.kind) {
    case TimerKind::kStopKill: {
      std::vector<int> groups;
      for (const auto& g : gens_) {
        if (g.pid > 0 && g.alive()) groups.push_back(g.pid);
        kill_group(out, g);
      }
      if (children_) out.push_back(SignalOrphans{SIGKILL, std::move(groups)});
      break;
    }
    case TimerKind::kDrainKill: {
      Generation* g = find_gen(id.gen);
      if (g == nullptr || g->stop_signal == 0) break;
      kill_group(out, *g);
      break;
    }
    case TimerKind::kRestart: {
      if (!restart_pending_ || stopping_) break;
      restart_pending_ = false;
      restarts_.next_at.reset();
      int gen = ++last_gen_;
      current_ = gen;
      spawn(out, gen);
      find_gen(gen)->restarted = true;
      break;
    }
    case TimerKind::kWatchdog: {
      Generation* g = find_gen(id.gen);
      if (g == nullptr || g->num != current_ || g->state != GenState::kReady ||
          stopping_) {
        break;
      }
      hung(out, *g, "no WATCHDOG=1 for " + format_duration(cfg_.watchdog));
      break;
    }
    case TimerKind::kReadyTimeout: {
      Generation* g = find_gen(id.gen);
      if (g == nullptr || g->state != GenState::kStarting || g->pid < 0) break;
      fail_starting(out, *g,
                    "not ready within " + format_duration(cfg_.ready_timeout));
      break;
    }
    case TimerKind::kReadyDelay: {
      Generation* g = find_gen(id.gen);
      if (g == nullptr || g->state != GenState::kStarting || g->pid < 0) break;
      g->alive_enough = true;
      check_ready(out, *g);
      break;
    }
    case TimerKind::kAcceptProbe: {
      Generation* g = find_gen(id.gen);
      if (g == nullptr || g->state != GenState::kStarting || g->pid < 0 ||
          g->accepting || !wants_accepting()) {
        break;
      }
      out.push_back(ProbeAccepting{g->num, g->pid, cfg_.ready.accepting_names});
      break;
    }
    case TimerKind::kSettle: {
      Generation* g = find_gen(id.gen);
      if (g == nullptr || !g->settling || g->state != GenState::kStarting ||
          g->stopped) {
        break;
      }
      g->settling = false;
      become_ready(out, *g, g->ready_via);
      break;
    }
    case TimerKind::kReadyProbe: {
      Generation* g = find_gen(id.gen);
      if (g != nullptr && g->state == GenState::kStarting && g->pid > 0 &&
          !g->settling) {
        run_ready_probe(out, *g);
      }
      break;
    }
    case TimerKind::kHealth: {
      Generation* g = find_gen(id.gen);
      if (g != nullptr && g->num == current_ && g->state == GenState::kReady &&
          !stopping_ && !g->failed) {
        run_health_probe(out, *g);
      }
      break;
    }
    case TimerKind::kWaitFor:
      if (!waiting_for_.empty() && gens_.empty()) {
        std::string names;
        for (const std::string& n : waiting_for_) {
          names += (names.empty() ? "" : ",") + n;
        }
        end_without_child(out, 1,
                          names + " not ready within --wait-for-timeout " +
                              format_duration(cfg_.wait_for_timeout));
      }
      break;
    case TimerKind::kStopDelay:
      if (delayed_stop_ != 0 && !stopping_) {
        const int sig = delayed_stop_;
        delayed_stop_ = 0;
        log(out, LogLevel::kInfo, 0, "stop delay over: stopping",
            {{"signal", signal_name(sig)}});
        begin_stop(out, sig);
      }
      break;
  }
  return out;
}

// byed ends when the current generation has ended and nothing else it started
// is still running.
void Supervisor::maybe_exit(std::vector<Action>& out) {
  if (!final_status_ || any_alive() || children_ || restart_pending_) return;
  if (stopping_ && cfg_.stop_timeout.count() > 0) {
    out.push_back(CancelTimer{TimerId{TimerKind::kStopKill, 0}});
  }
  int status = *final_status_;
  int code = exit_code_from_wait_status(status);
  std::string reason =
      "gen " + std::to_string(current_) + " " + describe_wait_status(status);
  if (const Generation* g = find_gen(current_); g && !g->error.empty()) {
    reason = "gen " + std::to_string(current_) + " " + g->error;
  }
  if (forced_exit_code_) {
    code = *forced_exit_code_;
    reason = forced_reason_;
  } else if (std::find(cfg_.success_status.begin(), cfg_.success_status.end(),
                       code) != cfg_.success_status.end()) {
    code = 0;  // --success-status: e.g. the JVM's 143 after TERM
    reason += ", a --success-status";
  }
  if (stopped_by_exit_dir_) {
    // A member told to stop by the group did not fail when it stopped.
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) code = 0;
    reason = "stopped by an exit dir entry: " + reason;
  } else if (cfg_.leader()) {
    out.push_back(
        WriteExitMarker{current_, final_pid_, status, final_started_at_});
  }
  if (!stop_reason_.empty() && !stopped_by_exit_dir_) {
    reason = stop_reason_ + ": " + reason;
  }
  exit_now(out, code, reason);
}

}  // namespace byed
