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

Supervisor::Supervisor(SupervisorOptions options) : opt_(std::move(options)) {}

std::vector<Action> Supervisor::on(const Event& event) {
  if (exited_) return {};
  return std::visit(
      [this](const auto& e) -> std::vector<Action> {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, Start>) return on_start();
        if constexpr (std::is_same_v<T, SignalReceived>)
          return on_signal(e.sig);
        if constexpr (std::is_same_v<T, Spawned>) return on_spawned(e);
        if constexpr (std::is_same_v<T, ChildExited>) return on_exited(e);
        if constexpr (std::is_same_v<T, TimerFired>) return on_timer(e.id);
        if constexpr (std::is_same_v<T, ExitDirEntry>) return on_exit_dir(e);
      },
      event);
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
  return std::any_of(gens_.begin(), gens_.end(), [](const Generation& g) {
    return g.state != GenState::kExited;
  });
}

std::vector<Action> Supervisor::on_start() {
  std::vector<Action> out;
  if (!gens_.empty()) return out;
  if (stopped_by_exit_dir_) {
    // The group was already told to stop: do not start what would be
    // stopped at once.
    log(out, LogLevel::kInfo, 0,
        "not starting: the exit dir already has an entry");
    exited_ = true;
    out.push_back(ExitProcess{0});
    return out;
  }
  gens_.push_back(Generation{1, -1, GenState::kStarting, 0});
  current_ = 1;
  out.push_back(SpawnGeneration{1});
  return out;
}

std::vector<Action> Supervisor::on_spawned(const Spawned& e) {
  std::vector<Action> out;
  Generation* g = find_gen(e.gen);
  if (g == nullptr || g->pid >= 0) return out;
  if (e.pid < 0) {
    // fork failed: there is no process to wait for.
    g->state = GenState::kExited;
    log(out, LogLevel::kError, e.gen, e.error);
    if (e.gen == current_ && !final_status_) {
      final_status_ = 1 << 8;  // as if it had exited 1
      final_pid_ = 0;
    }
    maybe_exit(out);
    return out;
  }
  g->pid = e.pid;
  g->state = GenState::kRunning;
  if (!e.error.empty()) {
    // exec failed; the child exits 126/127 and ChildExited follows.
    log(out, LogLevel::kError, e.gen, e.error);
    return out;
  }
  log(out, LogLevel::kInfo, e.gen, "started",
      {{"pid", std::to_string(e.pid)}, {"program", opt_.program}});
  if (stopping_) {
    // A stop arrived before this generation existed: it is stopped too.
    out.push_back(SendSignal{e.pid, SIGTERM});
  }
  return out;
}

std::vector<Action> Supervisor::on_signal(int sig) {
  std::vector<Action> out;
  switch (classify_signal(sig, opt_.upgrade_signal)) {
    case SignalClass::kReap:
      return out;  // the shell reaps; exits arrive as ChildExited
    case SignalClass::kUpgrade:
      log(out, LogLevel::kWarn, 0,
          "upgrade not available yet: " + signal_name(sig) + " ignored");
      return out;
    case SignalClass::kStop: {
      if (stopping_) {
        log(out, LogLevel::kInfo, 0, "stop signal forwarded again",
            {{"signal", signal_name(sig)}});
      } else {
        log(out, LogLevel::kInfo, 0, "stopping",
            {{"signal", signal_name(sig)}});
      }
      begin_stop(out, sig);
      return out;
    }
    case SignalClass::kForward: {
      Generation* g = find_gen(current_);
      if (g != nullptr && g->state == GenState::kRunning) {
        if (opt_.log_debug)
          log(out, LogLevel::kDebug, g->num, "forwarding signal",
              {{"signal", signal_name(sig)}, {"pid", std::to_string(g->pid)}});
        out.push_back(SendSignal{g->pid, sig});
      }
      return out;
    }
  }
  return out;
}

std::vector<Action> Supervisor::on_exited(const ChildExited& e) {
  std::vector<Action> out;
  Generation* g = find_pid(e.pid);
  if (g == nullptr) {
    log(out, LogLevel::kDebug, 0, "reaped orphan",
        {{"pid", std::to_string(e.pid)},
         {"status", describe_wait_status(e.wait_status)}});
    return out;
  }
  g->state = GenState::kExited;
  g->wait_status = e.wait_status;
  log(out, LogLevel::kInfo, g->num, "exited",
      {{"pid", std::to_string(g->pid)},
       {"status", describe_wait_status(e.wait_status)}});
  if (g->num == current_ && !final_status_) {
    final_status_ = e.wait_status;
    final_pid_ = g->pid;
  }
  maybe_exit(out);
  return out;
}

std::vector<Action> Supervisor::on_timer(const TimerId& id) {
  std::vector<Action> out;
  if (id.kind == TimerKind::kStopKill) {
    for (const auto& g : gens_) {
      if (g.state != GenState::kRunning) continue;
      log(out, LogLevel::kWarn, g.num,
          "still running after stop-timeout, sending KILL",
          {{"pid", std::to_string(g.pid)},
           {"stop_timeout", format_duration(opt_.stop_timeout)}});
      out.push_back(SendSignal{g.pid, SIGKILL, true});
    }
  }
  return out;
}

std::vector<Action> Supervisor::on_exit_dir(const ExitDirEntry& e) {
  std::vector<Action> out;
  if (!opt_.exit_follower || stopping_) return out;
  stopped_by_exit_dir_ = true;
  log(out, LogLevel::kInfo, 0, "exit dir entry appeared: stopping",
      {{"entry", e.name}});
  if (!gens_.empty()) begin_stop(out, SIGTERM);
  return out;
}

// Sends sig to every running generation; the first call arms the kill timer.
void Supervisor::begin_stop(std::vector<Action>& out, int sig) {
  if (!stopping_) {
    stopping_ = true;
    if (opt_.stop_timeout.count() > 0) {
      out.push_back(
          ArmTimer{TimerId{TimerKind::kStopKill, 0}, opt_.stop_timeout});
    }
  }
  for (const auto& g : gens_) {
    if (g.state == GenState::kRunning) out.push_back(SendSignal{g.pid, sig});
  }
  maybe_exit(out);
}

// byed ends when the current generation has ended and nothing else it started
// is still running.
void Supervisor::maybe_exit(std::vector<Action>& out) {
  if (!final_status_ || any_alive()) return;
  if (stopping_ && opt_.stop_timeout.count() > 0) {
    out.push_back(CancelTimer{TimerId{TimerKind::kStopKill, 0}});
  }
  int status = *final_status_;
  int code = exit_code_from_wait_status(status);
  if (stopped_by_exit_dir_) {
    // A member told to stop by the group did not fail when it stopped.
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) code = 0;
  } else if (opt_.exit_leader) {
    out.push_back(WriteExitMarker{current_, final_pid_, status});
  }
  exited_ = true;
  out.push_back(ExitProcess{code});
}

}  // namespace byed
