// supervisor.cc — the core's decisions: byed's phase, its generations and
// their workers, events -> actions. See supervisor.h.
#include "supervisor.h"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>

#include "signals.h"

namespace byed {
namespace {

std::string pid_str(int pid) { return std::to_string(pid); }

// How long a starting worker may run without waiting on the held sockets
// before byed says what that may mean.
constexpr int64_t kAcceptingHintMs = 5000;

template <class P>
bool is(const Phase& p) {
  return std::holds_alternative<P>(p);
}

const char* state_name(Supervisor::GenState s) {
  switch (s) {
    case Supervisor::GenState::kStarting:
      return "starting";
    case Supervisor::GenState::kReady:
      return "ready";
    case Supervisor::GenState::kDraining:
      return "draining";
    case Supervisor::GenState::kExited:
      return "exited";
  }
  return "exited";
}

// A probe's timeout: its interval, at least 1 s.
Millis probe_timeout(Millis interval) {
  return std::max(interval, Millis{1000});
}

bool job_stop(int sig) {
  return classify_signal(sig, 0) == SignalClass::kJobStop;
}

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

const char* phase_name(const Phase& p) {
  static constexpr const char* kNames[] = {
      "idle",       "waiting",    "starting", "serving", "upgrading",
      "restarting", "stop-delay", "stopping", "exited"};
  return kNames[p.index()];
}

bool Supervisor::Generation::alive() const {
  return std::any_of(workers.begin(), workers.end(),
                     [](const Worker& w) { return w.alive(); });
}

// The newest entry for `index`: an earlier one may linger (its group).
Supervisor::Worker* Supervisor::Generation::worker(int index) {
  for (auto it = workers.rbegin(); it != workers.rend(); ++it) {
    if (it->index == index) return &*it;
  }
  return nullptr;
}

const Supervisor::Worker* Supervisor::Generation::worker(int index) const {
  return const_cast<Generation*>(this)->worker(index);
}

Supervisor::Supervisor(Config config)
    : cfg_(std::move(config)), workers_(cfg_.workers) {}

int Supervisor::upgrading() const {
  const auto* up = std::get_if<phase::Upgrading>(&phase_);
  return up ? up->gen : 0;
}
bool Supervisor::stopping() const { return is<phase::Stopping>(phase_); }
bool Supervisor::exited() const { return is<phase::Exited>(phase_); }
int Supervisor::worker_count() const { return workers_ > 0 ? workers_ : 1; }

void Supervisor::log(std::vector<Action>& out, LogLevel level, int gen,
                     std::string msg, LogFields fields) const {
  out.push_back(Log{LogRecord{level, gen, std::move(msg), std::move(fields)}});
}

// Debug records are built only when they would be shown: a chatty child
// (STATUS= lines, many orphans) costs nothing at the default level.
void Supervisor::debug(std::vector<Action>& out, int gen, std::string msg,
                       LogFields fields) const {
  if (cfg_.log_level < LogLevel::kDebug) return;
  log(out, LogLevel::kDebug, gen, std::move(msg), std::move(fields));
}

// With --workers, every line about one process says which.
LogFields Supervisor::worker_fields(const Worker& w, LogFields more) const {
  if (cfg_.workers > 0) {
    more.insert(more.begin(), {"worker", std::to_string(w.index)});
  }
  return more;
}

std::vector<Action> Supervisor::on(const Event& event, const Now& now) {
  if (exited()) return {};
  now_ = now;
  // A routed signal: what its route sent went out already.
  SignalRoute sent;
  if (const auto* s = std::get_if<SignalReceived>(&event); s && s->routed) {
    sent = route(s->sig);
  }
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
  if (!exited()) check_workers_waiters(out);
  // Forget what is gone (the current generation stays, for its final
  // status; of a worker replaced, the newest entry): a byed upgraded a
  // million times holds no more than a few.
  for (auto& g : gens_) {
    std::vector<int> seen;
    for (auto it = g.workers.end(); it != g.workers.begin();) {
      --it;
      const bool newest =
          std::find(seen.begin(), seen.end(), it->index) == seen.end();
      seen.push_back(it->index);
      // Beyond `byed ctl workers`' count, a worker gone is forgotten.
      const bool dropped = it->index >= worker_count();
      if ((!newest || dropped) && !it->alive() && !it->restart_pending) {
        it = g.workers.erase(it);
      }
    }
  }
  gens_.erase(std::remove_if(gens_.begin(), gens_.end(),
                             [this](const Generation& g) {
                               return !g.alive() && g.num != current_ &&
                                      g.num != upgrading();
                             }),
              gens_.end());
  if (sent.count > 0) {
    int i = 0;
    out.erase(std::remove_if(out.begin(), out.end(),
                             [&](const Action& a) {
                               const auto* s = std::get_if<SendSignal>(&a);
                               if (i == sent.count || s == nullptr ||
                                   s->pid != sent.sends[i].pid ||
                                   s->sig != sent.sends[i].sig ||
                                   s->target != sent.sends[i].target) {
                                 return false;
                               }
                               ++i;
                               return true;
                             }),
              out.end());
    if (i != sent.count) {  // never, by signal_route_test: said if it were
      log(out, LogLevel::kWarn, 0, "a routed signal went elsewhere than asked",
          {{"sent", std::to_string(sent.count)}, {"asked", std::to_string(i)}});
    }
  }
  update_routes();
  return out;
}

const SignalRoute& Supervisor::route(int sig) const {
  static const SignalRoute kNone;
  return sig > 0 && sig < kSignals ? routes_[sig] : kNone;
}

// After each event: what each signal would send at once. A forwarded
// signal goes where forward() sends it; a stop signal, where begin_stop()
// does, unless it only starts --stop-delay or ends byed before the program
// ran. Job control, upgrades and CHLD have no route: the core decides
// those when they come.
void Supervisor::update_routes() {
  for (SignalRoute& r : routes_) r.count = 0;
  if (exited()) return;
  std::vector<SendSignal> forwards;
  forward_sends(forwards, 0, forward_target());
  std::vector<SendSignal> stops;
  if (stop_sends_now()) {
    for (const auto& g : gens_) {
      for (const auto& w : g.workers) {
        if (w.reachable()) {
          stops.push_back(stop_send(w, 0, forward_target()));
        }
      }
    }
  }
  for (int sig = 1; sig < kSignals; ++sig) {
    const int as = forwarded_as(sig);
    const SignalClass what = classify_signal(sig, cfg_.upgrade_signal);
    const std::vector<SendSignal>* sends =
        what == SignalClass::kForward ? &forwards
        : what == SignalClass::kStop  ? &stops
                                      : nullptr;
    if (as == 0 || sends == nullptr ||
        sends->size() > static_cast<size_t>(SignalRoute::kMax)) {
      continue;
    }
    SignalRoute& r = routes_[sig];
    for (const SendSignal& s : *sends) {
      r.sends[r.count++] = SendSignal{s.pid, as, s.target};
    }
  }
}

Supervisor::Generation* Supervisor::find_gen(int num) {
  for (auto& g : gens_) {
    if (g.num == num) return &g;
  }
  return nullptr;
}

Supervisor::Worker* Supervisor::find_worker(int gen, int index) {
  Generation* g = find_gen(gen);
  return g ? g->worker(index) : nullptr;
}

std::pair<Supervisor::Generation*, Supervisor::Worker*> Supervisor::find_pid(
    int pid) {
  for (auto& g : gens_) {
    for (auto& w : g.workers) {
      if (w.pid == pid && w.state != GenState::kExited) return {&g, &w};
    }
  }
  return {nullptr, nullptr};
}

bool Supervisor::any_alive() const {
  return std::any_of(gens_.begin(), gens_.end(),
                     [](const Generation& g) { return g.alive(); });
}

// ---- start and spawn --------------------------------------------------------

std::vector<Action> Supervisor::on_start(const Start& e) {
  std::vector<Action> out;
  if (!is<phase::Idle>(phase_)) return out;
  terminal_ = e.terminal;
  ignored_ = e.ignored;
  // A signal byed would send that stays ignored in the child never
  // arrives: say so now, not after a stop has waited out --stop-timeout.
  auto warn_ignored = [&](int sig, const std::string& what) {
    if (sig <= 0 ||
        std::find(ignored_.begin(), ignored_.end(), sig) == ignored_.end()) {
      return;
    }
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
    // stopped at once. A refusal is a warning: shown even with -q.
    log(out, LogLevel::kWarn, 0,
        "not starting: the exit dir already has an entry");
    exit_now(out, 0, "the exit dir already had an entry");
    return out;
  }
  if (!cfg_.wait_for.empty()) {
    // Birth order: the child starts once every member named is ready.
    phase_ = phase::Waiting{};
    waiting_for_ = cfg_.wait_for;
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
  phase_ = phase::Starting{};
  start_generation(out, 1, worker_count());
  return out;
}

std::vector<Action> Supervisor::on_ready_dir(const ReadyDirEntry& e) {
  std::vector<Action> out;
  if (!is<phase::Waiting>(phase_)) return out;
  auto it = std::find_if(
      waiting_for_.begin(), waiting_for_.end(),
      [&e](const std::string& n) { return e.name == n + ".ready"; });
  if (it == waiting_for_.end()) return out;
  waiting_for_.erase(it);
  if (!waiting_for_.empty()) return out;
  log(out, LogLevel::kInfo, 0, "every member waited for is ready: starting");
  out.push_back(CancelTimer{TimerId{TimerKind::kWaitFor, 0}});
  current_ = 1;
  phase_ = phase::Starting{};
  start_generation(out, 1, worker_count());
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
  phase_ = phase::Exited{};
  out.push_back(ExitProcess{code});
}

void Supervisor::start_generation(std::vector<Action>& out, int gen,
                                  int workers) {
  last_gen_ = std::max(last_gen_, gen);
  Generation g;
  g.num = gen;
  g.started_at = now_.real;
  gens_.push_back(g);
  for (int i = 0; i < workers; ++i) spawn_worker(out, gens_.back(), i);
}

// Starts worker `index` of `g` (again, when it replaces one that ended).
void Supervisor::spawn_worker(std::vector<Action>& out, Generation& g,
                              int index) {
  Worker w;
  w.index = index;
  w.started_at = now_.real;
  if (Worker* before = g.worker(index)) {
    w.restarts = before->restarts + (before->restart_pending ? 1 : 0);
    w.backoff_steps = before->backoff_steps;
    before->restart_pending = false;
  }
  g.workers.push_back(w);
  // Only the serving generation owns the terminal: the first one from the
  // start (nothing else serves), an upgrade's once it takes over; of its
  // workers, the first.
  out.push_back(SpawnGeneration{g.num, g.num == current_ && index == 0,
                                !terminal_, index, workers_});
  out.push_back(ArmTimer{TimerId{TimerKind::kReadyTimeout, g.num, index},
                         cfg_.ready_timeout});
}

std::vector<Action> Supervisor::on_spawned(const Spawned& e) {
  std::vector<Action> out;
  Generation* g = find_gen(e.gen);
  Worker* w = g ? g->worker(e.worker) : nullptr;
  if (w == nullptr || w->spawned) return out;
  w->spawned = true;
  if (e.pid < 0) {
    // fork failed: there is no process to wait for; it ends as one that
    // exited 1 at once.
    w->error = e.error;
    w->state = GenState::kExited;
    log(out, LogLevel::kError, e.gen, e.error, worker_fields(*w));
    cancel_ready_timers(out, e.gen, e.worker);
    worker_ended(out, *g, *w, 1 << 8);
    maybe_exit(out);
    return out;
  }
  w->pid = e.pid;
  children_ = true;
  if (is<phase::Stopping>(phase_)) {
    // A stop arrived before this worker existed: it is stopped too.
    w->stop_signal = SIGTERM;
    out.push_back(SendSignal{e.pid, SIGTERM});
  } else if (workers_ > 0 && w->index >= workers_) {
    // `byed ctl workers` lowered the count while it was being forked.
    cancel_ready_timers(out, g->num, w->index);
    w->state = GenState::kDraining;
    stop_worker(out, *g, *w, cfg_.drain_signal, Target::kProcess);
  }
  return out;
}

std::vector<Action> Supervisor::on_exec(const Exec& e) {
  std::vector<Action> out;
  Generation* g = find_gen(e.gen);
  Worker* w = g ? g->worker(e.worker) : nullptr;
  if (w == nullptr || w->pid < 0) return out;
  if (!e.error.empty()) {
    // The child exits 126/127 and ChildExited follows; this is its reason.
    w->error = e.error;
    log(out, LogLevel::kError, e.gen, e.error, worker_fields(*w));
    return out;
  }
  log(out, LogLevel::kInfo, e.gen, "started",
      worker_fields(
          *w, {{"pid", pid_str(w->pid)}, {"program", cfg_.command.front()}}));
  if (w->state != GenState::kStarting) return out;
  // Each rule starts counting from the program running, not from the fork:
  // a slow exec is not time spent alive, nor a warm-up.
  if (wants_alive(*w)) arm_alive(out, *g, *w);
  if (wants_accepting()) {
    out.push_back(
        ProbeAccepting{e.gen, w->pid, cfg_.ready.accepting_names, w->index});
  }
  w->ran_mono = now_.mono_ms;
  w->exec_ok.assign(cfg_.ready.exec.size(), false);
  if (!cfg_.ready.exec.empty()) run_ready_probe(out, *g, *w);
  return out;
}

// ---- readiness --------------------------------------------------------------

std::vector<Action> Supervisor::on_ready(const ChildReady& e) {
  std::vector<Action> out;
  ever_messaged_ = true;  // from now on auto mode waits for a message
  Generation* g = find_gen(e.gen);
  Worker* w = g ? g->worker(e.worker) : nullptr;
  if (w == nullptr || w->state != GenState::kStarting || w->pid < 0 ||
      w->said_ready) {
    return out;  // late, repeated, or from a worker on its way out
  }
  w->said_ready = true;
  w->said_via = e.via;
  check_ready(out, *g, *w);
  return out;
}

// Whether starting workers are watched for waiting on the held sockets:
// asked for, or auto with sockets to watch, while it can be known.
bool Supervisor::wants_accepting() const {
  if (accepting_unknown_ || cfg_.held_sockets.empty()) return false;
  return cfg_.ready.accepting || cfg_.ready.automatic;
}

// Whether "alive for a while" is a rule for `w`: asked for; or where auto
// (or an accepting that cannot be seen) has nothing better — no socket to
// watch and no program that ever sent a message.
bool Supervisor::wants_alive(const Worker& w) const {
  if (cfg_.ready.alive.count() > 0) return true;
  const bool fallback =
      cfg_.ready.automatic || (cfg_.ready.accepting && accepting_unknown_);
  return fallback && !wants_accepting() && !ever_messaged_ && !w.said_ready;
}

void Supervisor::arm_alive(std::vector<Action>& out, const Generation& g,
                           const Worker& w) {
  out.push_back(
      ArmTimer{TimerId{TimerKind::kReadyDelay, g.num, w.index},
               cfg_.ready.alive.count() > 0 ? cfg_.ready.alive : Millis{1000}});
}

// Makes worker `w` ready once every rule that applies to it holds (SPEC:
// Readiness), then its generation once all its workers are. A stopped
// worker is never ready.
void Supervisor::check_ready(std::vector<Action>& out, Generation& g,
                             Worker& w) {
  if (w.state != GenState::kStarting || w.pid < 0 || w.stopped) return;
  const ReadyRules& r = cfg_.ready;
  // A message is needed when asked for, and under auto (or an accepting
  // that cannot be seen) once a program has shown it speaks a protocol.
  const bool fallback = r.automatic || (r.accepting && accepting_unknown_);
  const bool need_message =
      r.message || (fallback && (ever_messaged_ || w.said_ready));
  const bool need_accepting = wants_accepting();
  const bool need_alive =
      r.alive.count() > 0 || (fallback && !need_accepting && !need_message);
  if (need_message && !w.said_ready) return;
  if (need_accepting && !w.accepting) return;
  if (need_alive && !w.alive_enough) return;
  for (bool ok : w.exec_ok) {
    if (!ok) return;
  }
  std::string via;
  auto add = [&via](const std::string& what) {
    via += (via.empty() ? "" : ", ") + what;
  };
  if (need_accepting) add(w.accepting_via);
  if (need_message) add(w.said_via);
  if (need_alive) {
    add("alive " +
        format_duration(r.alive.count() > 0 ? r.alive : Millis{1000}));
  }
  for (const std::string& cmd : r.exec) add("exec " + cmd);
  cancel_ready_timers(out, g.num, w.index);
  w.state = GenState::kReady;
  w.ready_via = via;
  w.ready_mono = now_.mono_ms;
  if (g.state == GenState::kReady) {
    // A worker that replaced one, or one `byed ctl workers` added, in a
    // serving generation: it serves now.
    log(out, LogLevel::kInfo, g.num,
        w.restarts > 0 ? "worker restarted: ready" : "worker ready",
        worker_fields(w, {{"pid", pid_str(w.pid)}, {"via", via}}));
    if (!cfg_.health.empty()) {
      out.push_back(ArmTimer{TimerId{TimerKind::kHealth, g.num, w.index},
                             cfg_.health_interval});
    }
    workers_status(out, g);
    return;
  }
  if (cfg_.workers > 0) {
    debug(out, g.num, "worker ready",
          worker_fields(w, {{"pid", pid_str(w.pid)}, {"via", via}}));
  }
  check_generation_ready(out, g);
}

// A starting generation is ready when every worker started so far is; an
// upgrade's, once it has stayed so for --ready-settle.
void Supervisor::check_generation_ready(std::vector<Action>& out,
                                        Generation& g) {
  if (g.state != GenState::kStarting || g.settling) return;
  const auto* up = std::get_if<phase::Upgrading>(&phase_);
  const bool upgrade = up != nullptr && up->gen == g.num;
  const int want = upgrade ? up->started : worker_count();
  const Worker* first = nullptr;  // the first ready one: its via is said
  for (int i = 0; i < want; ++i) {
    const Worker* w = g.worker(i);
    if (w == nullptr) return;
    // One that ended and is not replaced (--restart no) is not waited for.
    if (w->state == GenState::kExited && !w->restart_pending && !upgrade) {
      continue;
    }
    if (w->state != GenState::kReady) return;
    if (first == nullptr) first = w;
  }
  if (first == nullptr) return;
  g.ready_via = first->ready_via;
  const Generation* old = find_gen(current_);
  const Millis settle = ready_settle(cfg_);
  if (upgrade && settle.count() > 0 && old != nullptr &&
      old->state == GenState::kReady) {
    // The old one keeps serving until the new one has stayed ready a while:
    // a release that fails a moment after it looks ready fails the upgrade.
    g.settling = true;
    LogFields fields{{"pid", pid_str(g.pid())},
                     {"via", g.ready_via},
                     {"settle", format_duration(settle)}};
    if (cfg_.workers > 0) {
      fields.push_back({"workers", std::to_string(want) + "/" +
                                       std::to_string(worker_count())});
    }
    log(out, LogLevel::kInfo, g.num, "ready; settling", fields);
    out.push_back(ArmTimer{TimerId{TimerKind::kSettle, g.num}, settle});
    return;
  }
  hand_over_batch(out, g);
}

// An upgrade's batch is ready (and settled): the old workers it replaces
// are drained and the next batch starts; after the last one, or outside
// an upgrade, the generation is ready.
void Supervisor::hand_over_batch(std::vector<Action>& out, Generation& g) {
  auto* up = std::get_if<phase::Upgrading>(&phase_);
  if (up == nullptr || up->gen != g.num || up->started >= worker_count()) {
    become_ready(out, g);
    return;
  }
  Generation* old = find_gen(current_);
  for (int i = up->handed; i < up->started; ++i) {
    Worker* ow = old ? old->worker(i) : nullptr;
    if (ow == nullptr || !ow->live()) continue;
    ow->state = GenState::kDraining;
    log(out, LogLevel::kInfo, old->num, "draining",
        worker_fields(*ow, {{"pid", pid_str(ow->pid)},
                            {"signal", signal_name(cfg_.drain_signal)}}));
    stop_worker(out, *old, *ow, cfg_.drain_signal, Target::kProcess);
  }
  up->handed = up->started;
  const int next = std::min(worker_count(), up->started + cfg_.upgrade_batch);
  log(out, LogLevel::kInfo, g.num, "upgrade: batch took over",
      {{"workers",
        std::to_string(up->handed) + "/" + std::to_string(worker_count())}});
  out.push_back(NotifySystemd{NotifySystemd::State::kNone,
                              "upgrading: " + std::to_string(up->handed) + "/" +
                                  std::to_string(worker_count()) +
                                  " workers of gen " + std::to_string(g.num)});
  const int from = up->started;
  up->started = next;
  for (int i = from; i < next; ++i) spawn_worker(out, g, i);
}

void Supervisor::become_ready(std::vector<Action>& out, Generation& g) {
  if (stopping()) return;  // being stopped: nothing to hand over to
  g.state = GenState::kReady;
  g.settling = false;
  g.ready_at = now_.real;
  g.ready_mono = now_.mono_ms;
  const std::string& via = g.ready_via;
  if (cfg_.upgrade_signal > 0 && !warned_caught_) {
    // Ready means set up: its signal handlers are in place by now.
    out.push_back(ReadCaughtSignals{g.num, g.pid()});
  }
  if (!cfg_.health.empty()) {
    for (const Worker& w : g.workers) {
      if (!w.live()) continue;
      out.push_back(ArmTimer{TimerId{TimerKind::kHealth, g.num, w.index},
                             cfg_.health_interval});
    }
  }
  std::string status = cfg_.workers > 0
                           ? workers_line(g)
                           : "gen " + std::to_string(g.num) + " ready (pid " +
                                 pid_str(g.pid()) + ")";
  LogFields fields{{"pid", pid_str(g.pid())}, {"via", via}};
  if (cfg_.workers > 0) {
    fields.push_back({"workers", std::to_string(worker_count())});
  }
  if (auto* up = std::get_if<phase::Upgrading>(&phase_);
      up && up->gen == g.num) {
    Generation* old = find_gen(current_);
    const int old_num = old ? old->num : 0;
    current_ = g.num;
    upgraded_ = true;
    // The serving one may have died meanwhile: this one serves now.
    ending_.status.reset();
    phase_ = phase::Serving{};
    // The terminal goes to the new one, and in a terminal so does a CONT:
    // a member may have been stopped reading it from the background.
    out.push_back(GiveTerminal{g.pid()});
    if (terminal_) {
      out.push_back(SendSignal{g.pid(), SIGCONT, Target::kGroupThenProcess});
    }
    fields.push_back({"old_gen", old_num ? std::to_string(old_num) : "-"});
    log(out, LogLevel::kInfo, g.num, "upgrade done: ready", fields);
    if (old != nullptr && old->state == GenState::kReady) {
      drain(out, *old, cfg_.drain_signal);
    }
    out.push_back(NotifySystemd{NotifySystemd::State::kReady, status});
    UpgradeResult r;
    r.ok = true;
    r.gen = g.num;
    r.pid = g.pid();
    r.upgraded = cfg_.workers > 0 ? worker_count() : 0;
    r.workers = r.upgraded;
    finish_upgrade(out, r);
  } else {
    if (is<phase::Starting>(phase_)) phase_ = phase::Serving{};
    if (g.restarted) {
      log(out, LogLevel::kInfo, g.num, "restarted: ready", fields);
      out.push_back(GiveTerminal{g.pid()});
      out.push_back(
          NotifySystemd{NotifySystemd::State::kNone, status + ", restarted"});
      ending_.status.reset();
      ending_.forced_code.reset();
    } else {
      log(out, LogLevel::kInfo, g.num, "ready", fields);
    }
  }
  if (!first_ready_) {
    first_ready_ = true;
    if (!cfg_.pidfile.empty()) out.push_back(WritePidfile{});
    if (!cfg_.ready_dir.empty()) out.push_back(WriteReadyMarker{});
    out.push_back(NotifySystemd{NotifySystemd::State::kReady, status});
  }
  run_queued_upgrade(out);
}

// "3/4 workers ready, gen 2": byed's STATUS= with --workers.
std::string Supervisor::workers_line(const Generation& g) const {
  int ready = 0;
  for (const Worker& w : g.workers) {
    if (w.state == GenState::kReady && w.index < worker_count()) ++ready;
  }
  return std::to_string(ready) + "/" + std::to_string(worker_count()) +
         " workers ready, gen " + std::to_string(g.num);
}

// The serving generation's count of ready workers changed: tell systemd.
void Supervisor::workers_status(std::vector<Action>& out, const Generation& g) {
  if (cfg_.workers == 0 || g.num != current_ || stopping()) return;
  out.push_back(NotifySystemd{NotifySystemd::State::kNone, workers_line(g)});
}

// A program that catches the upgrade signal expects it, but byed takes it
// (tini and dumb-init forwarded it): said once per run, as a warning.
std::vector<Action> Supervisor::on_signals_caught(const SignalsCaught& e) {
  std::vector<Action> out;
  const Generation* g = find_gen(e.gen);
  if (warned_caught_ || g == nullptr || g->pid() != e.pid ||
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
      {{"pid", pid_str(e.pid)}, {"signal", sig}});
  return out;
}

void Supervisor::cancel_ready_timers(std::vector<Action>& out, int gen,
                                     int worker) {
  out.emplace_back(CancelTimer{TimerId{TimerKind::kReadyTimeout, gen, worker}});
  out.emplace_back(CancelTimer{TimerId{TimerKind::kReadyDelay, gen, worker}});
  out.emplace_back(CancelTimer{TimerId{TimerKind::kAcceptProbe, gen, worker}});
  out.emplace_back(CancelTimer{TimerId{TimerKind::kSettle, gen}});
  if (!cfg_.ready.exec.empty()) {
    out.emplace_back(CancelTimer{TimerId{TimerKind::kReadyProbe, gen, worker}});
    out.emplace_back(StopProbes{gen, worker});
  }
}

// A starting generation died or was not ready in time.
void Supervisor::fail_starting(std::vector<Action>& out, Generation& g,
                               const std::string& reason) {
  out.push_back(CancelTimer{TimerId{TimerKind::kSettle, g.num}});
  g.settling = false;
  for (const Worker& w : g.workers) cancel_ready_timers(out, g.num, w.index);
  if (auto* up = std::get_if<phase::Upgrading>(&phase_);
      up && up->gen == g.num) {
    const phase::Upgrading was = *up;
    phase_ = phase::Serving{};
    std::string why = reason;
    if (cfg_.workers > 0) {
      why += " (" + std::to_string(was.handed) + "/" +
             std::to_string(worker_count()) + " workers upgraded)";
    }
    log(out, LogLevel::kError, g.num, "upgrade failed: " + why,
        {{"serving_gen", std::to_string(current_)}});
    out.push_back(
        NotifySystemd{NotifySystemd::State::kReady, "upgrade failed: " + why});
    UpgradeResult r;
    r.gen = g.num;
    r.pid = g.pid();
    r.reason = why;
    r.upgraded = was.handed;
    r.workers = cfg_.workers > 0 ? worker_count() : 0;
    finish_upgrade(out, r);
    // Every worker it started goes (what a dead one left behind too).
    drain(out, g, SIGTERM);
    if (was.handed > 0) {
      log(out, LogLevel::kWarn, current_,
          "serving with the old workers that remain",
          {{"workers", std::to_string(worker_count() - was.handed) + "/" +
                           std::to_string(worker_count())}});
    }
    if (was.serving_lost) {
      // The serving generation died while this one started: nothing serves.
      if (Generation* cur = find_gen(current_); cur && ending_.status) {
        end_serving(out, *cur, *ending_.status);
      }
      return;
    }
    run_queued_upgrade(out);
    return;
  }
  // The current generation (the first, or a restart): nothing serves.
  ending_.forced_code = 1;
  ending_.forced_reason =
      "gen " + std::to_string(g.num) + " not ready: " + reason;
  g.failed = true;
  const bool running = g.alive();
  if (cfg_.restart != RestartPolicy::kNo && !stopping() && running) {
    // Stopped like a drained one; its end decides the restart.
    log(out, LogLevel::kError, g.num, "not ready: " + reason);
    drain(out, g, SIGTERM);
    return;
  }
  log(out, LogLevel::kError, g.num, "not ready: " + reason + "; stopping");
  if (running && !stopping()) {
    out.push_back(
        NotifySystemd{NotifySystemd::State::kStopping, "not ready: " + reason});
    begin_stop(out, SIGTERM);
  }
}

// Sends `sig` to a worker (its group, where only the group is left), and
// SIGKILLs what is left of it after --stop-timeout. The one place a stop
// or a drain signal goes out to one worker.
void Supervisor::stop_worker(std::vector<Action>& out, const Generation& g,
                             Worker& w, int sig, Target target) {
  if (!w.reachable()) return;
  w.stop_signal = sig;
  out.push_back(stop_send(w, sig, target));
  if (cfg_.stop_timeout.count() > 0 && !stopping()) {
    out.push_back(ArmTimer{TimerId{TimerKind::kDrainKill, g.num, w.index},
                           cfg_.stop_timeout});
  }
}

// A stop or drain signal to a worker: its leader, or its group where only
// the group is left.
SendSignal Supervisor::stop_send(const Worker& w, int sig,
                                 Target target) const {
  return SendSignal{w.pid, sig,
                    w.state == GenState::kExited ? Target::kGroup : target};
}

// Tells a whole generation to stop: the drain signal to its workers.
void Supervisor::drain(std::vector<Action>& out, Generation& g, int sig) {
  g.state = GenState::kDraining;
  if (g.alive()) {
    LogFields fields{{"pid", pid_str(g.pid())}, {"signal", signal_name(sig)}};
    if (cfg_.workers > 0) {
      int n = 0;
      for (const Worker& w : g.workers) n += w.alive() ? 1 : 0;
      fields.push_back({"workers", std::to_string(n)});
    }
    log(out, LogLevel::kInfo, g.num, "draining", fields);
  }
  for (Worker& w : g.workers) {
    if (w.restart_pending) {
      w.restart_pending = false;
      out.push_back(CancelTimer{TimerId{TimerKind::kRestart, g.num, w.index}});
    }
    if (w.state == GenState::kDraining && w.stop_signal != 0) {
      continue;  // drained on its own already (a batch, `ctl workers`)
    }
    if (w.state != GenState::kExited) w.state = GenState::kDraining;
    stop_worker(out, g, w, sig, Target::kProcess);
  }
}

// ---- upgrades ---------------------------------------------------------------

void Supervisor::request_upgrade(std::vector<Action>& out,
                                 const std::string& source) {
  if (is<phase::Serving>(phase_)) {
    log(out, LogLevel::kInfo, 0, "upgrade requested", {{"source", source}});
    start_upgrade(out);
    return;
  }
  if (is<phase::Starting>(phase_) || is<phase::Upgrading>(phase_) ||
      is<phase::Restarting>(phase_)) {
    // In flight, or the first generation is not ready yet: coalesce into
    // at most one more, run when this one is settled.
    if (!upgrade_pending_) {
      log(out, LogLevel::kInfo, 0, "upgrade queued",
          {{"source", source},
           {"waiting_for",
            std::to_string(upgrading() ? upgrading() : current_)}});
    }
    upgrade_pending_ = true;
    return;
  }
  // Waiting to start, stopping, or exited.
  log(out, LogLevel::kWarn, 0, "upgrade ignored: stopping",
      {{"source", source}});
}

void Supervisor::run_queued_upgrade(std::vector<Action>& out) {
  if (!upgrade_pending_ || !is<phase::Serving>(phase_)) return;
  upgrade_pending_ = false;
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

// The new generation starts beside the serving one: all its workers, or
// the first --upgrade-batch of them.
void Supervisor::start_upgrade(std::vector<Action>& out) {
  const int gen = ++last_gen_;
  const int n = worker_count();
  const int first =
      cfg_.upgrade_batch > 0 && cfg_.upgrade_batch < n ? cfg_.upgrade_batch : n;
  phase::Upgrading up;
  up.gen = gen;
  up.started = first;
  phase_ = up;
  out.push_back(
      NotifySystemd{NotifySystemd::State::kReloading,
                    "upgrading: starting gen " + std::to_string(gen)});
  start_generation(out, gen, first);
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

// A forwarded signal goes to every running worker of the serving
// generation, and in a rolling upgrade to the new workers that took over.
void Supervisor::forward(std::vector<Action>& out, int sig, Target target) {
  std::vector<SendSignal> sends;
  forward_sends(sends, sig, target);
  out.insert(out.end(), sends.begin(), sends.end());
}

void Supervisor::forward_sends(std::vector<SendSignal>& out, int sig,
                               Target target) const {
  const auto* up = std::get_if<phase::Upgrading>(&phase_);
  for (const Generation& g : gens_) {
    if (g.num == current_) {
      for (const Worker& w : g.workers) {
        // Not to one drained on its own (replaced in a batch, or beyond
        // `ctl workers`' count): it is on its way out.
        const bool leaving =
            w.state == GenState::kDraining && g.state != GenState::kDraining;
        if (w.live() && !leaving) out.push_back(SendSignal{w.pid, sig, target});
      }
    }
  }
  for (const Generation& n : gens_) {
    if (up == nullptr || n.num != up->gen) continue;
    for (const Worker& w : n.workers) {
      if (w.live() && w.index < up->handed) {
        out.push_back(SendSignal{w.pid, sig, target});
      }
    }
  }
}

// Whether a stop signal now sends the stop to the workers (begin_stop):
// not while byed waits for --wait-for (it ends at once), nor when it only
// starts --stop-delay (the program keeps serving; a second one sends).
bool Supervisor::stop_sends_now() const {
  return !is<phase::Idle>(phase_) && !is<phase::Waiting>(phase_) &&
         !starts_stop_delay();
}

// --stop-delay applies to a stop that comes while the program serves or
// starts (not in a restart's back-off: nothing serves then).
bool Supervisor::starts_stop_delay() const {
  return cfg_.stop_delay.count() > 0 &&
         (is<phase::Serving>(phase_) || is<phase::Upgrading>(phase_) ||
          is<phase::Starting>(phase_));
}

std::vector<Action> Supervisor::on_signal(int sig) {
  std::vector<Action> out;
  // What a signal means is decided on the signal received; what is sent on
  // is the rewritten one. A signal rewritten to none is ignored outright.
  const int as = forwarded_as(sig);
  if (as == 0) {
    debug(out, 0, "signal ignored (--rewrite)", {{"signal", signal_name(sig)}});
    return out;
  }
  Generation* g = find_gen(current_);
  const int leader = g != nullptr && g->worker(0) && g->worker(0)->live()
                         ? g->worker(0)->pid
                         : 0;
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
    case SignalClass::kJobStop:
      // Job control reaches byed itself (kill -TSTP, or Ctrl-Z while byed's
      // group has the terminal): the program stops, then byed, so the shell
      // sees its job stop. As dumb-init does. Without a terminal each
      // generation has a session of its own, an orphaned process group the
      // kernel delivers no TSTP/TTIN/TTOU to: it gets STOP, which always
      // stops it.
      forward(out, terminal_ ? as : SIGSTOP, Target::kGroupThenProcess);
      stop_job(out);
      return out;
    case SignalClass::kContinue:
      // The job goes on: the serving generation gets the terminal back (if
      // byed's group was just put in the foreground) and its whole group,
      // stopped by the terminal, continues.
      if (leader > 0) out.push_back(GiveTerminal{leader});
      forward(out, as, Target::kGroupThenProcess);
      return out;
    case SignalClass::kForward:
      if (leader > 0) {
        debug(out, current_, "forwarding signal",
              {{"signal", signal_name(as)}, {"pid", pid_str(leader)}});
      }
      forward(out, as, forward_target());
      return out;
  }
  return out;
}

// A control request: the rules for each command, in one place.
std::vector<Action> Supervisor::on_control(const ControlRequest& r) {
  std::vector<Action> out;
  const bool stopping_now =
      is<phase::Stopping>(phase_) || is<phase::StopDelay>(phase_);
  switch (r.cmd) {
    case Command::kStatus:
      out.push_back(ReplyStatus{r.conn});
      break;
    case Command::kUpgrade:
      if (stopping_now) {
        out.push_back(ReplyError{r.conn, "byed is stopping"});
        break;
      }
      // Every waiter gets the result of the upgrade that settles next: the
      // one in flight if there is one (a control request joins it, and an
      // upgrade a signal queued behind it stays queued), else the one this
      // request starts, or queues until the first generation is ready.
      upgrade_waiters_.push_back(r.conn);
      if (upgrading() == 0) request_upgrade(out, "control");
      break;
    case Command::kStop:
      out.push_back(ReplyStopping{r.conn});
      request_stop(out, SIGTERM, "control");
      break;
    case Command::kWorkers:
      set_workers(out, r.conn, r.count, stopping_now);
      break;
  }
  return out;
}

// `byed ctl workers N`: the serving generation grows to N workers (each
// ready before the answer) or shrinks (the highest indexes drained).
void Supervisor::set_workers(std::vector<Action>& out, ConnId conn, int n,
                             bool stopping_now) {
  std::string refused;
  if (cfg_.workers == 0) {
    refused = "byed runs one process: start it with --workers N";
  } else if (n < 1) {
    refused = "workers: at least 1";
  } else if (stopping_now) {
    refused = "byed is stopping";
  } else if (!is<phase::Serving>(phase_)) {
    refused = std::string("byed is ") + phase_name(phase_) +
              ": try again once it serves";
  }
  if (!refused.empty()) {
    out.push_back(ReplyError{conn, refused});
    return;
  }
  Generation& g = *find_gen(current_);
  const int before = workers_;
  workers_ = n;
  log(out, LogLevel::kInfo, g.num, "workers changed",
      {{"from", std::to_string(before)}, {"to", std::to_string(n)}});
  for (Worker& w : g.workers) {
    if (w.index < n) continue;
    if (w.restart_pending) {
      w.restart_pending = false;
      out.push_back(CancelTimer{TimerId{TimerKind::kRestart, g.num, w.index}});
    }
    if (!w.live()) continue;
    cancel_ready_timers(out, g.num, w.index);
    w.state = GenState::kDraining;
    log(out, LogLevel::kInfo, g.num, "draining",
        worker_fields(w, {{"pid", pid_str(w.pid)},
                          {"signal", signal_name(cfg_.drain_signal)}}));
    stop_worker(out, g, w, cfg_.drain_signal, Target::kProcess);
  }
  for (int i = 0; i < n; ++i) {
    const Worker* w = g.worker(i);
    // Missing, gone for good, or on its way out (drained by a batch that
    // then failed, or by a smaller count): a new one takes the index.
    if (w == nullptr || w->state == GenState::kDraining ||
        (!w->live() && !w->restart_pending)) {
      spawn_worker(out, g, i);
    }
  }
  workers_status(out, g);
  workers_waiters_.push_back(conn);
}

// Answers `byed ctl workers` once every worker below the count is ready
// and none above it runs.
void Supervisor::check_workers_waiters(std::vector<Action>& out) {
  if (workers_waiters_.empty()) return;
  Generation* g = find_gen(current_);
  if (stopping() || g == nullptr || g->state != GenState::kReady) {
    if (!is<phase::Serving>(phase_)) {
      for (ConnId c : workers_waiters_) {
        out.push_back(
            ReplyError{c, std::string("byed is ") + phase_name(phase_)});
      }
      workers_waiters_.clear();
    }
    return;
  }
  std::string failed;
  for (int i = 0; i < worker_count() && failed.empty(); ++i) {
    const Worker* w = g->worker(i);
    if (w != nullptr && w->state == GenState::kExited && !w->restart_pending) {
      // It ended and is not replaced (--restart, or its limit): the count
      // cannot be reached now.
      failed = "worker " + std::to_string(i) +
               " ended before it was ready and is not replaced";
    } else if (w == nullptr || w->state != GenState::kReady) {
      return;
    }
  }
  for (ConnId c : workers_waiters_) {
    if (failed.empty()) {
      out.push_back(ReplyWorkers{c, workers_});
    } else {
      out.push_back(ReplyError{c, failed});
    }
  }
  workers_waiters_.clear();
}

// A stop asked for by a signal or the control socket: every generation gets
// `sig`; asking again forwards it again.
void Supervisor::request_stop(std::vector<Action>& out, int sig,
                              const std::string& source) {
  if (ending_.stop_reason.empty()) {
    ending_.stop_reason =
        "stop requested by " +
        (source == "signal"     ? "signal " + signal_name(sig)
         : source == "control"  ? std::string("byed ctl stop")
         : source == "terminal" ? "the terminal (" + signal_name(sig) + ")"
                                : source);
  }
  if (is<phase::StopDelay>(phase_)) {
    // A second stop signal ends the delay.
    out.push_back(CancelTimer{TimerId{TimerKind::kStopDelay, 0}});
    log(out, LogLevel::kInfo, 0, "stopping",
        {{"signal", signal_name(sig)},
         {"source", source},
         {"delay", "cut short"}});
    begin_stop(out, sig);
    return;
  }
  if (starts_stop_delay()) {
    // --stop-delay: say STOPPING=1 at once and keep serving a while, so
    // load balancers stop sending before the program stops taking. An
    // upgrade in flight is abandoned: nothing new comes up during a stop.
    abandon_upgrade(out, true);
    phase_ = phase::StopDelay{sig};
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
  const bool again = stopping();
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

// An upgrade in flight ends unfinished (byed stops): its workers are
// stopped with everything else, its waiters told.
void Supervisor::abandon_upgrade(std::vector<Action>& out, bool drain_new) {
  const int gen = upgrading();
  if (gen != 0) {
    if (Generation* g = find_gen(gen)) {
      out.push_back(CancelTimer{TimerId{TimerKind::kSettle, gen}});
      for (const Worker& w : g->workers) cancel_ready_timers(out, gen, w.index);
      if (drain_new) drain(out, *g, SIGTERM);
    }
  }
  if (gen != 0 || !upgrade_waiters_.empty()) {
    UpgradeResult r;
    r.gen = gen;
    r.reason = "byed is stopping";
    finish_upgrade(out, r);
  }
}

std::vector<Action> Supervisor::on_exit_dir(const ExitDirEntry& e) {
  std::vector<Action> out;
  if (!cfg_.follower() || stopping()) return out;
  stopped_by_exit_dir_ = true;
  log(out, LogLevel::kInfo, 0, "exit dir entry appeared: stopping",
      {{"entry", e.name}});
  if (!is<phase::Idle>(phase_)) {
    out.push_back(NotifySystemd{NotifySystemd::State::kStopping, ""});
    begin_stop(out, SIGTERM);
  }
  return out;
}

void Supervisor::stop_job(std::vector<Action>& out) {
  debug(out, 0, "job stopped: stopping byed too");
  out.push_back(StopSelf{});
}

// A worker's program was stopped. By the terminal (Ctrl-Z, or reading from
// it in the background), it is the job that stops: byed too, so that the
// shell gets its prompt back and `fg` continues both. A stopped worker is
// never ready until it continues.
std::vector<Action> Supervisor::on_stopped(const ChildStopped& e) {
  std::vector<Action> out;
  auto [g, w] = find_pid(e.pid);
  if (w == nullptr) return out;
  w->stopped = true;
  if (g->num != current_ || stopping()) return out;
  if (!job_stop(e.sig)) return out;
  // The terminal stops the worker that holds it; the job is all of them:
  // the others a forwarded signal reaches (in a rolling upgrade, the new
  // ones that took over too), in groups of their own, get STOP (as `kill
  // -TSTP byed` without a terminal); CONT later reaches the same ones.
  std::vector<SendSignal> job;
  forward_sends(job, SIGSTOP, Target::kGroupThenProcess);
  for (const SendSignal& s : job) {
    const Worker* o = find_pid(s.pid).second;
    if (o != w && o != nullptr && !o->stopped) out.push_back(s);
  }
  stop_job(out);
  return out;
}

std::vector<Action> Supervisor::on_continued(const ChildContinued& e) {
  std::vector<Action> out;
  auto [g, w] = find_pid(e.pid);
  if (w == nullptr || !w->stopped) return out;
  w->stopped = false;
  if (g->settling) {
    // The window starts again: stopped is not ready.
    out.push_back(
        ArmTimer{TimerId{TimerKind::kSettle, g->num}, ready_settle(cfg_)});
  }
  check_ready(out, *g, *w);
  return out;
}

// ---- probes ---------------------------------------------------------------

std::vector<Action> Supervisor::on_accepting(const AcceptingProbed& e) {
  std::vector<Action> out;
  Generation* g = find_gen(e.gen);
  Worker* w = g ? g->worker(e.worker) : nullptr;
  if (w == nullptr || w->state != GenState::kStarting || w->pid < 0) {
    return out;
  }
  switch (e.result) {
    case AcceptingProbed::Result::kAccepting:
      w->accepting = true;
      w->accepting_via = e.via;
      check_ready(out, *g, *w);
      break;
    case AcceptingProbed::Result::kNotYet: {
      // Often at first (a server that is up at once is ready at once),
      // then less often: 5, 10, 20 ... 200 ms.
      int64_t after = 5;
      for (int i = 0; i < w->accept_probes && after < 200; ++i) after *= 2;
      ++w->accept_probes;
      out.push_back(ArmTimer{TimerId{TimerKind::kAcceptProbe, g->num, w->index},
                             Millis{std::min<int64_t>(after, 200)}});
      if (!w->hinted && w->ran_mono >= 0 &&
          now_.mono_ms - w->ran_mono >= kAcceptingHintMs) {
        // A program that binds its own port never waits on byed's: say
        // how to tell byed, once, long before --ready-timeout.
        w->hinted = true;
        log(out, LogLevel::kWarn, g->num,
            "not waiting on the held sockets yet; a program that binds its "
            "own port instead needs --ready exec:CMD or --ready DUR",
            worker_fields(
                *w, {{"running_for",
                      format_duration(Millis{now_.mono_ms - w->ran_mono})}}));
      }
      break;
    }
    case AcceptingProbed::Result::kUnknown:
      // Said once; every worker falls back to the next rule.
      accepting_unknown_ = true;
      log(out, LogLevel::kWarn, g->num,
          "cannot see whether the program accepts on its sockets; readiness "
          "falls back to a message, else alive 1s",
          {{"reason", e.via}});
      for (auto& other : gens_) {
        for (auto& ow : other.workers) {
          if (ow.state != GenState::kStarting || ow.pid < 0) continue;
          if (wants_alive(ow)) arm_alive(out, other, ow);
          check_ready(out, other, ow);
        }
      }
      break;
  }
  return out;
}

// The next --ready exec: rule `w` has not passed yet, one at a time.
void Supervisor::run_ready_probe(std::vector<Action>& out, const Generation& g,
                                 const Worker& w) {
  for (size_t i = 0; i < w.exec_ok.size(); ++i) {
    if (w.exec_ok[i]) continue;
    out.push_back(RunProbe{g.num, w.pid, ProbeKind::kReady, static_cast<int>(i),
                           cfg_.ready.exec[i],
                           probe_timeout(cfg_.ready_interval), w.index});
    return;
  }
}

std::vector<Action> Supervisor::on_probe_done(const ProbeDone& e) {
  std::vector<Action> out;
  Generation* g = find_gen(e.gen);
  Worker* w = g ? g->worker(e.worker) : nullptr;
  if (w == nullptr || w->state == GenState::kExited || stopping()) return out;
  debug(out, g->num,
        e.kind == ProbeKind::kReady ? "ready probe" : "health probe",
        worker_fields(*w, {{"ok", e.ok ? "yes" : "no"}, {"detail", e.detail}}));
  if (e.kind == ProbeKind::kReady) {
    if (w->state != GenState::kStarting || e.index < 0 ||
        static_cast<size_t>(e.index) >= w->exec_ok.size()) {
      return out;
    }
    if (e.ok) w->exec_ok[static_cast<size_t>(e.index)] = true;
    check_ready(out, *g, *w);
    if (w->state == GenState::kStarting) {
      out.push_back(ArmTimer{TimerId{TimerKind::kReadyProbe, g->num, w->index},
                             e.ok ? Millis{0} : cfg_.ready_interval});
    }
    return out;
  }
  // Health of a serving worker: N failures in a row mean hung.
  if (g->num != current_ || g->state != GenState::kReady ||
      w->state != GenState::kReady || w->hung) {
    return out;
  }
  w->health_failures = e.ok ? 0 : w->health_failures + 1;
  if (!e.ok) {
    log(out, LogLevel::kWarn, g->num, "health probe failed",
        worker_fields(*w, {{"failures", std::to_string(w->health_failures)},
                           {"of", std::to_string(cfg_.health_failures)},
                           {"detail", e.detail}}));
  }
  if (w->health_failures >= cfg_.health_failures) {
    hung(out, *g, *w,
         std::to_string(w->health_failures) + " health probes failed");
    return out;
  }
  out.push_back(ArmTimer{TimerId{TimerKind::kHealth, g->num, w->index},
                         cfg_.health_interval});
  return out;
}

// Process groups of every worker still alive: orphans are what is outside.
std::vector<int> Supervisor::live_groups() const {
  std::vector<int> groups;
  for (const auto& g : gens_) {
    for (const auto& w : g.workers) {
      if (w.reachable()) groups.push_back(w.pid);
    }
  }
  return groups;
}

// Sends sig to every live worker (to the leader; to the group where only
// the group is left) and to adopted orphans; the first call abandons an
// upgrade in flight and arms the kill timer.
void Supervisor::begin_stop(std::vector<Action>& out, int sig) {
  if (is<phase::Waiting>(phase_)) {
    // Stopped before the program ever ran: as if it had been killed by the
    // signal, or 0 when the group told it to stop (EXIT_DIR).
    end_without_child(out, stopped_by_exit_dir_ ? 0 : 128 + sig,
                      "stopped while waiting for --wait-for");
    return;
  }
  if (!stopping()) {
    if (is<phase::Restarting>(phase_)) {
      // No restart: the stop is at once, with the last generation's status.
      next_restart_at_.reset();
      out.push_back(CancelTimer{TimerId{TimerKind::kRestart, 0}});
    }
    abandon_upgrade(out, false);  // its workers get the stop signal below
    for (auto& g : gens_) {
      for (auto& w : g.workers) {
        if (!w.restart_pending) continue;
        w.restart_pending = false;
        out.push_back(
            CancelTimer{TimerId{TimerKind::kRestart, g.num, w.index}});
      }
    }
    phase_ = phase::Stopping{sig};
    if (cfg_.stop_timeout.count() > 0) {
      out.push_back(
          ArmTimer{TimerId{TimerKind::kStopKill, 0}, cfg_.stop_timeout});
    }
    if (!cfg_.ready.exec.empty() || !cfg_.health.empty()) {
      out.push_back(StopProbes{0});
    }
  }
  std::get<phase::Stopping>(phase_).sig = sig;
  for (auto& g : gens_) {
    for (auto& w : g.workers) stop_worker(out, g, w, sig, forward_target());
  }
  if (children_) out.push_back(SignalOrphans{sig, live_groups()});
  maybe_exit(out);
}

// While stopping, a process that dies leaves its children to byed: they are
// orphans now, and get the stop signal too (the shell sends it once each).
void Supervisor::signal_new_orphans(std::vector<Action>& out) {
  const auto* s = std::get_if<phase::Stopping>(&phase_);
  if (s == nullptr || !children_) return;
  out.push_back(SignalOrphans{s->sig, live_groups()});
}

// SIGKILL to what is left of a worker: its whole group.
void Supervisor::kill_worker(std::vector<Action>& out, const Generation& g,
                             const Worker& w) {
  if (!w.reachable()) return;
  log(out, LogLevel::kWarn, g.num,
      "still running after stop-timeout, sending KILL",
      worker_fields(w, {{"pid", pid_str(w.pid)},
                        {"stop_timeout", format_duration(cfg_.stop_timeout)}}));
  out.push_back(SendSignal{w.pid, SIGKILL,
                           w.state == GenState::kExited
                               ? Target::kGroup
                               : Target::kGroupThenProcess});
}

// ---- exits and timers -----------------------------------------------------

std::vector<Action> Supervisor::on_exited(const ChildExited& e) {
  std::vector<Action> out;
  children_ = e.children_left;
  const bool was_stopping = stopping();
  auto [g, w] = find_pid(e.pid);
  if (w == nullptr) {
    debug(out, 0, "reaped orphan",
          {{"pid", pid_str(e.pid)},
           {"status", describe_wait_status(e.wait_status)}});
    if (was_stopping) signal_new_orphans(out);
    maybe_exit(out);
    return out;
  }
  const GenState was = w->state;
  w->state = GenState::kExited;
  w->lingering = e.group_alive;
  // A program that could not run was said in one line ("cannot run ..."):
  // its 127 or 126 is no news but at debug.
  LogFields fields =
      worker_fields(*w, {{"pid", pid_str(w->pid)},
                         {"status", describe_wait_status(e.wait_status)}});
  if (w->error.empty()) {
    log(out, LogLevel::kInfo, g->num, "exited", fields);
  } else {
    debug(out, g->num, "exited", fields);
  }
  if (w->lingering) {
    // The leader is gone, not its group: what is left gets the signal the
    // leader got (the kill timer, if armed, stays for the group), and byed
    // waits for it.
    out.push_back(WatchGroup{g->num, w->pid, w->index});
    if (w->stop_signal != 0) {
      log(out, LogLevel::kInfo, g->num, "signalling the rest of its group",
          worker_fields(*w, {{"pgid", pid_str(w->pid)},
                             {"signal", signal_name(w->stop_signal)}}));
      out.push_back(SendSignal{w->pid, w->stop_signal, Target::kGroup});
    }
  } else {
    out.push_back(
        CancelTimer{TimerId{TimerKind::kDrainKill, g->num, w->index}});
  }
  if (was == GenState::kStarting) cancel_ready_timers(out, g->num, w->index);
  if (g->num == current_) {
    out.push_back(CancelTimer{TimerId{TimerKind::kWatchdog, g->num, w->index}});
    if (!cfg_.health.empty()) {
      out.push_back(CancelTimer{TimerId{TimerKind::kHealth, g->num, w->index}});
      out.push_back(StopProbes{g->num, w->index});
    }
  }
  const int sig = WIFSIGNALED(e.wait_status) ? WTERMSIG(e.wait_status) : 0;
  if (g->num == current_ && e.had_terminal &&
      (sig == SIGINT || sig == SIGQUIT) &&
      (is<phase::Serving>(phase_) || is<phase::Starting>(phase_) ||
       is<phase::Upgrading>(phase_))) {
    // Ctrl-C or Ctrl-\ on byed's terminal reached the program, not byed:
    // the user stopped the job. A stop, never a crash to restart; byed
    // exits 130/131 as a shell would.
    record_ending(*g, *w, e.wait_status);
    request_stop(out, sig, "terminal");
  } else if (was != GenState::kDraining || g->state == GenState::kDraining) {
    worker_ended(out, *g, *w, e.wait_status);
  }
  if (was_stopping) signal_new_orphans(out);
  maybe_exit(out);
  return out;
}

// The current generation's status so far: byed ends with its last
// worker's.
void Supervisor::record_ending(const Generation& g, const Worker& w,
                               int wait_status) {
  if (g.num != current_) return;
  ending_.status = wait_status;
  ending_.pid = w.pid;
  ending_.started_at = w.started_at;
  ending_.error = w.error;
}

// Worker `w` of `g` ended (it exited, or could not be forked) without
// being drained on its own. What that means depends on its generation.
void Supervisor::worker_ended(std::vector<Action>& out, Generation& g,
                              Worker& w, int wait_status) {
  if (auto* up = std::get_if<phase::Upgrading>(&phase_);
      up && up->gen == g.num) {
    if (g.state != GenState::kStarting) return;  // being stopped already
    const std::string reason =
        !w.error.empty() ? w.error
        : g.settling     ? "exited within --ready-settle after it was ready (" +
                           describe_wait_status(wait_status) + ")"
                     : "exited before it was ready (" +
                           describe_wait_status(wait_status) + ")";
    fail_starting(out, g, reason);
    return;
  }
  if (g.num != current_) return;  // a drained generation
  record_ending(g, w, wait_status);
  if (is<phase::Stopping>(phase_)) return;  // what was asked for
  if (const auto* d = std::get_if<phase::StopDelay>(&phase_)) {
    // It ended during --stop-delay: the stop goes on at once.
    const int stop = d->sig;
    out.push_back(CancelTimer{TimerId{TimerKind::kStopDelay, 0}});
    begin_stop(out, stop);
    return;
  }
  const bool others = std::any_of(g.workers.begin(), g.workers.end(),
                                  [](const Worker& o) { return o.live(); });
  if (cfg_.workers == 0 || g.state == GenState::kDraining) {
    // One process, or a generation drained as a whole (not ready): the
    // generation ends with it.
    if (!others) end_serving(out, g, wait_status);
    return;
  }
  // One of several workers: replaced alone, the others keep serving.
  replace_worker(out, g, w, wait_status, others);
}

// --workers: a worker of the current generation ended. It is replaced
// under the --restart rules (its own back-off; the burst limit counts per
// generation); else the generation goes on without it, and byed ends with
// the last one.
void Supervisor::replace_worker(std::vector<Action>& out, Generation& g,
                                Worker& w, int wait_status, bool others) {
  const std::string reason = "gen " + std::to_string(g.num) + " worker " +
                             std::to_string(w.index) + " " +
                             describe_wait_status(wait_status);
  workers_status(out, g);
  if (!wants_restart(w.hung, wait_status)) {
    if (!others) {
      end_serving(out, g, wait_status);
      return;
    }
    // Ending well is no news to warn about (a one-shot job's workers).
    log(out, is_success(wait_status) ? LogLevel::kInfo : LogLevel::kWarn, g.num,
        "worker not replaced (--restart)",
        worker_fields(w, {{"status", describe_wait_status(wait_status)}}));
    // A starting generation is ready without it once the others are.
    check_generation_ready(out, g);
    return;
  }
  if (!within_restart_limit(out, g.restart_times, g.num, reason)) {
    // A crash loop: byed gives up and ends with this status, so that the
    // orchestrator sees it.
    ending_.forced_code = exit_code_from_wait_status(wait_status);
    ending_.forced_reason = "restart limit reached: " + reason;
    out.push_back(NotifySystemd{NotifySystemd::State::kStopping, ""});
    begin_stop(out, SIGTERM);
    return;
  }
  const Millis delay = next_backoff(w.backoff_steps, w.ready_mono);
  w.restart_pending = true;
  ++restart_count_;
  last_restart_reason_ = reason;
  log(out, LogLevel::kWarn, g.num, "restarting worker",
      worker_fields(w, {{"reason", describe_wait_status(wait_status)},
                        {"in", format_duration(delay)},
                        {"restart", std::to_string(w.restarts + 1)}}));
  if (w.lingering) stop_worker(out, g, w, SIGTERM, Target::kGroup);
  out.push_back(ArmTimer{TimerId{TimerKind::kRestart, g.num, w.index}, delay});
}

// The serving generation ended and nobody asked byed to stop: restart it,
// let an upgrade in flight take over, or end byed.
void Supervisor::end_serving(std::vector<Action>& out, Generation& g,
                             int wait_status) {
  if (auto* up = std::get_if<phase::Upgrading>(&phase_)) {
    log(out, LogLevel::kWarn, g.num,
        "serving generation ended during an upgrade: the new one takes over "
        "once ready",
        {{"new_gen", std::to_string(up->gen)}});
    up->serving_lost = true;
    return;
  }
  if (wants_restart(g.failed, wait_status) &&
      schedule_restart(out, g, wait_status)) {
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
    ending_.forced_code = 1;
    ending_.forced_reason = "gen " + std::to_string(g.num) +
                            " ended on its own after an upgrade (exit code 0)";
  }
  out.push_back(GiveTerminal{0});  // nothing takes over: back to byed's
  // byed ends, after what else it runs: named as what it is.
  if (any_alive() || children_) {
    const bool others = std::any_of(
        gens_.begin(), gens_.end(),
        [&g](const Generation& o) { return o.num != g.num && o.alive(); });
    log(out, LogLevel::kInfo, 0,
        others      ? "current generation ended: stopping the others"
        : g.alive() ? "current generation ended: stopping what is left of "
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

bool Supervisor::wants_restart(bool failed, int wait_status) const {
  switch (cfg_.restart) {
    case RestartPolicy::kNo:
      return false;
    case RestartPolicy::kAlways:
      return true;
    case RestartPolicy::kOnFailure:
      // A status declared success (--success-status) is no failure, as
      // systemd's SuccessExitStatus=.
      return failed || !is_success(wait_status);
  }
  return false;
}

// Whether one more restart fits the burst limit (--restart-limit N/INTERVAL
// over `times`); when not, says so and byed gives up.
bool Supervisor::within_restart_limit(std::vector<Action>& out,
                                      std::vector<int64_t>& times, int gen,
                                      const std::string& reason) {
  const int64_t now = now_.mono_ms;
  const int64_t window = cfg_.restart_interval.count();
  times.erase(std::remove_if(times.begin(), times.end(),
                             [&](int64_t t) { return t <= now - window; }),
              times.end());
  if (static_cast<int>(times.size()) >= cfg_.restart_burst) {
    log(out, LogLevel::kError, gen, "restart limit reached: giving up",
        {{"reason", reason},
         {"restarts", std::to_string(times.size())},
         {"within", format_duration(cfg_.restart_interval)}});
    out.push_back(NotifySystemd{NotifySystemd::State::kNone,
                                "restart limit reached: " + reason});
    return false;
  }
  times.push_back(now);
  return true;
}

// The back-off before the next attempt: doubling per restart from
// --restart-delay up to its cap; reset when the one that ended had stayed
// ready a while (no crash loop).
Millis Supervisor::next_backoff(int& steps, int64_t ready_mono) const {
  if (ready_mono >= 0 &&
      now_.mono_ms - ready_mono >= cfg_.restart_stable.count()) {
    steps = 0;
  }
  Millis delay = cfg_.restart_delay;
  for (int i = 0; i < steps && delay < cfg_.restart_delay_max; ++i) {
    delay *= 2;
  }
  if (steps < 62) ++steps;
  return std::min(delay, cfg_.restart_delay_max);
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
  if (!within_restart_limit(out, restart_times_, g.num, reason)) return false;
  const Millis delay = next_backoff(backoff_steps_, g.ready_mono);
  phase_ = phase::Restarting{};
  ending_.forced_code.reset();  // the next attempt decides anew
  ++restart_count_;
  last_restart_reason_ = reason;
  timespec at = now_.real;
  at.tv_sec += delay.count() / 1000;
  at.tv_nsec += (delay.count() % 1000) * 1000000;
  if (at.tv_nsec >= 1000000000) {
    at.tv_sec += 1;
    at.tv_nsec -= 1000000000;
  }
  next_restart_at_ = at;
  log(out, LogLevel::kWarn, g.num, "restarting",
      {{"reason", reason},
       {"in", format_duration(delay)},
       {"restart", std::to_string(restart_count_)}});
  out.push_back(
      NotifySystemd{NotifySystemd::State::kNone,
                    "restarting in " + format_duration(delay) + ": " + reason});
  out.push_back(GiveTerminal{0});
  // What the crashed one left behind goes: its code is the old one.
  for (Worker& w : g.workers) {
    if (w.lingering) stop_worker(out, g, w, SIGTERM, Target::kGroup);
  }
  out.push_back(ArmTimer{TimerId{TimerKind::kRestart, 0}, delay});
  return true;
}

// A serving worker is hung: ABRT (a core dump to look at), KILL after
// --stop-timeout, and its end decides the restart — as systemd does.
void Supervisor::hung(std::vector<Action>& out, Generation& g, Worker& w,
                      const std::string& why) {
  if (w.hung) return;  // already being killed
  w.hung = true;
  if (cfg_.workers == 0) g.failed = true;
  log(out, LogLevel::kError, g.num, "hung: " + why + "; sending ABRT",
      worker_fields(w, {{"pid", pid_str(w.pid)}}));
  stop_worker(out, g, w, SIGABRT, Target::kProcess);
  w.stop_signal = SIGTERM;  // for what it leaves behind
}

// WATCHDOG=, STATUS=, EXTEND_TIMEOUT_USEC= from a worker: relayed to
// systemd for the serving generation only, and fed to --watchdog.
std::vector<Action> Supervisor::on_said(const ChildSaid& e) {
  std::vector<Action> out;
  Generation* g = find_gen(e.gen);
  Worker* w = g ? g->worker(e.worker) : nullptr;
  if (w == nullptr || w->state == GenState::kExited || stopping()) return out;
  const bool current = g->num == current_;
  const bool serving =
      current && g->state == GenState::kReady && w->state == GenState::kReady;
  if (e.status) {
    debug(out, g->num, "status", worker_fields(*w, {{"status", *e.status}}));
    // With --workers, byed's own "N/N workers ready" is the status.
    if (current && cfg_.workers == 0) {
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
        hung(out, *g, *w, "it sent WATCHDOG=trigger");
      } else if (!w->hung) {
        out.push_back(ArmTimer{TimerId{TimerKind::kWatchdog, g->num, w->index},
                               cfg_.watchdog});
      }
    }
  }
  return out;
}

std::vector<Action> Supervisor::on_group_empty(const GroupEmpty& e) {
  std::vector<Action> out;
  Generation* g = find_gen(e.gen);
  if (g == nullptr) return out;
  for (Worker& w : g->workers) {
    if (!w.lingering || w.index != e.worker) continue;
    w.lingering = false;
    debug(out, g->num, "process group gone",
          worker_fields(w, {{"pgid", pid_str(w.pid)}}));
    out.push_back(CancelTimer{TimerId{TimerKind::kDrainKill, g->num, w.index}});
    break;
  }
  maybe_exit(out);
  return out;
}

std::vector<Action> Supervisor::on_timer(const TimerId& id) {
  std::vector<Action> out;
  Generation* g = id.gen > 0 ? find_gen(id.gen) : nullptr;
  Worker* w = g ? g->worker(id.worker) : nullptr;
  const bool starting =
      w != nullptr && w->state == GenState::kStarting && w->pid >= 0;
  switch (id.kind) {
    case TimerKind::kStopKill:
      for (const auto& gen : gens_) {
        for (const auto& wk : gen.workers) kill_worker(out, gen, wk);
      }
      if (children_) out.push_back(SignalOrphans{SIGKILL, live_groups()});
      break;
    case TimerKind::kDrainKill:
      if (g == nullptr) break;
      for (const Worker& wk : g->workers) {
        if (wk.index == id.worker && wk.stop_signal != 0) {
          kill_worker(out, *g, wk);
        }
      }
      break;
    case TimerKind::kRestart:
      if (id.gen == 0) {
        if (!is<phase::Restarting>(phase_)) break;
        next_restart_at_.reset();
        const int gen = ++last_gen_;
        current_ = gen;
        phase_ = phase::Starting{};
        start_generation(out, gen, worker_count());
        find_gen(gen)->restarted = true;
      } else if (w != nullptr && w->restart_pending && !stopping()) {
        spawn_worker(out, *g, id.worker);
      }
      break;
    case TimerKind::kWatchdog:
      if (w != nullptr && g->num == current_ && g->state == GenState::kReady &&
          w->state == GenState::kReady && !stopping()) {
        hung(out, *g, *w,
             "no WATCHDOG=1 for " + format_duration(cfg_.watchdog));
      }
      break;
    case TimerKind::kReadyTimeout: {
      if (!starting) break;
      const std::string why =
          "not ready within " + format_duration(cfg_.ready_timeout);
      if (g->state == GenState::kStarting) {
        fail_starting(out, *g, why);
        break;
      }
      // A worker replacing one in a serving generation: it goes, and its
      // end decides whether another try comes.
      log(out, LogLevel::kError, g->num, "worker " + why,
          worker_fields(*w, {{"pid", pid_str(w->pid)}}));
      w->hung = true;
      cancel_ready_timers(out, g->num, w->index);
      stop_worker(out, *g, *w, SIGTERM, Target::kProcess);
      break;
    }
    case TimerKind::kReadyDelay:
      if (!starting) break;
      w->alive_enough = true;
      check_ready(out, *g, *w);
      break;
    case TimerKind::kAcceptProbe:
      if (starting && !w->accepting && wants_accepting()) {
        out.push_back(ProbeAccepting{g->num, w->pid, cfg_.ready.accepting_names,
                                     w->index});
      }
      break;
    case TimerKind::kSettle:
      if (g == nullptr || !g->settling || g->state != GenState::kStarting ||
          std::any_of(g->workers.begin(), g->workers.end(),
                      [](const Worker& wk) { return wk.stopped; })) {
        break;
      }
      g->settling = false;
      hand_over_batch(out, *g);
      break;
    case TimerKind::kReadyProbe:
      if (starting && w->pid > 0) run_ready_probe(out, *g, *w);
      break;
    case TimerKind::kHealth:
      if (w != nullptr && g->num == current_ && g->state == GenState::kReady &&
          w->state == GenState::kReady && !stopping() && !w->hung) {
        out.push_back(RunProbe{g->num, w->pid, ProbeKind::kHealth, 0,
                               cfg_.health, probe_timeout(cfg_.health_interval),
                               w->index});
      }
      break;
    case TimerKind::kWaitFor:
      if (is<phase::Waiting>(phase_)) {
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
      if (const auto* d = std::get_if<phase::StopDelay>(&phase_)) {
        const int sig = d->sig;
        log(out, LogLevel::kInfo, 0, "stop delay over: stopping",
            {{"signal", signal_name(sig)}});
        begin_stop(out, sig);
      }
      break;
  }
  return out;
}

// byed ends when the current generation has ended and nothing else it started
// is still running (nor waits to be started again).
void Supervisor::maybe_exit(std::vector<Action>& out) {
  if (!ending_.status || any_alive() || children_ ||
      is<phase::Restarting>(phase_)) {
    return;
  }
  for (const auto& g : gens_) {
    for (const auto& w : g.workers) {
      if (w.restart_pending) return;
    }
  }
  if (stopping() && cfg_.stop_timeout.count() > 0) {
    out.push_back(CancelTimer{TimerId{TimerKind::kStopKill, 0}});
  }
  const int status = *ending_.status;
  int code = exit_code_from_wait_status(status);
  const std::string gen = "gen " + std::to_string(current_) + " ";
  std::string reason =
      gen +
      (ending_.error.empty() ? describe_wait_status(status) : ending_.error);
  if (ending_.forced_code) {
    code = *ending_.forced_code;
    reason = ending_.forced_reason;
  } else if (std::find(cfg_.success_status.begin(), cfg_.success_status.end(),
                       code) != cfg_.success_status.end()) {
    code = 0;  // --success-status: e.g. the JVM's 143 after TERM
    reason += ", a --success-status";
  }
  if (stopped_by_exit_dir_) {
    // A member told to stop by the group did not fail when it stopped.
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) code = 0;
    reason = "stopped by an exit dir entry: " + reason;
  } else {
    if (cfg_.leader()) {
      out.push_back(
          WriteExitMarker{current_, ending_.pid, status, ending_.started_at});
    }
    if (!ending_.stop_reason.empty()) {
      reason = ending_.stop_reason + ": " + reason;
    }
  }
  exit_now(out, code, reason);
}

// ---- status -----------------------------------------------------------------

StatusView Supervisor::status() const {
  StatusView s;
  s.phase = phase_name(phase_);
  s.stopping = stopping();
  s.upgrading = upgrading() != 0;
  s.workers = workers_;
  for (const auto& g : gens_) {
    // What is left of a group whose leaders are gone is not shown.
    const bool running = std::any_of(
        g.workers.begin(), g.workers.end(),
        [](const Worker& w) { return w.state != GenState::kExited; });
    if (!running && !(cfg_.workers > 0 && g.num == current_)) continue;
    StatusView::GenerationView gv;
    gv.num = g.num;
    gv.pid = g.pid();
    gv.state = state_name(g.state);
    gv.current = g.num == current_;
    gv.started_at = g.started_at;
    gv.ready_at = g.ready_at;
    for (const auto& w : g.workers) {
      if (g.worker(w.index) != &w) continue;  // an older entry lingering
      gv.workers.push_back(
          {w.index, w.pid,
           w.restart_pending ? "restarting" : state_name(w.state), w.restarts});
    }
    s.generations.push_back(std::move(gv));
  }
  s.last_upgrade = last_upgrade_;
  s.restarts = restart_count_;
  s.last_restart_reason = last_restart_reason_;
  s.next_restart_at = next_restart_at_;
  return s;
}

}  // namespace byed
