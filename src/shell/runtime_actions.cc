// runtime_actions.cc — execute(): each Action the core returns, carried out
// as syscalls, in the order given. What to do is the core's; here is only
// how (kill, tcsetpgrp, files, datagrams, control replies). Spawning is in
// generation_io.cc, with the fds a generation reports through.
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "atomic_file.h"
#include "control_protocol.h"
#include "loop.h"
#include "notify.h"
#include "notify_message.h"
#include "pidfile.h"
#include "proc.h"
#include "signals.h"

namespace byed {

void Runtime::execute(const Action& action) {
  std::visit(
      [this](const auto& a) {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, SpawnGeneration>) {
          do_spawn(a);
        } else if constexpr (std::is_same_v<T, SendSignal>) {
          do_signal(a);
        } else if constexpr (std::is_same_v<T, SignalOrphans>) {
          signal_orphans(a);
        } else if constexpr (std::is_same_v<T, WatchGroup>) {
          watched_groups_[a.pgid] = {a.gen, a.worker};
          check_groups();
        } else if constexpr (std::is_same_v<T, StopSelf>) {
          ::kill(getpid(), SIGSTOP);  // the shell sees its job stop
        } else if constexpr (std::is_same_v<T, GiveTerminal>) {
          give_terminal(a.pgid);
        } else if constexpr (std::is_same_v<T, ProbeAccepting>) {
          probe_accepting(a);
        } else if constexpr (std::is_same_v<T, RunProbe>) {
          probes_->start(a, probe_env_);
        } else if constexpr (std::is_same_v<T, StopProbes>) {
          probes_->stop(a.gen, a.worker);
        } else if constexpr (std::is_same_v<T, ArmTimer>) {
          arm_timer(a.id, a.after);
        } else if constexpr (std::is_same_v<T, CancelTimer>) {
          timers_.erase(a.id);
        } else if constexpr (std::is_same_v<T, Log>) {
          logger_.write(a.record);
        } else if constexpr (std::is_same_v<T, NotifySystemd>) {
          notify_systemd(a);
        } else if constexpr (std::is_same_v<T, WritePidfile>) {
          write_pidfile();
        } else if constexpr (std::is_same_v<T, WriteReadyMarker>) {
          write_ready_marker();
        } else if constexpr (std::is_same_v<T, WatchReadyDir>) {
          watch_ready_dir();
        } else if constexpr (std::is_same_v<T, WriteExitMarker>) {
          write_marker(a);
        } else if constexpr (std::is_same_v<T, ReplyStatus>) {
          StatusContext ctx{getpid(), byed_started_, wall_clock(), &sockets_};
          if (control_)
            control_->reply(a.conn, status_reply(core_.status(), ctx));
        } else if constexpr (std::is_same_v<T, ReplyUpgrade>) {
          if (control_) control_->reply(a.conn, upgrade_reply(a.result));
        } else if constexpr (std::is_same_v<T, ReplyStopping>) {
          if (control_) control_->reply(a.conn, stopping_reply(), true);
        } else if constexpr (std::is_same_v<T, ReplyWorkers>) {
          if (control_) control_->reply(a.conn, workers_reply(a.workers));
        } else if constexpr (std::is_same_v<T, ReplyError>) {
          if (control_) control_->reply(a.conn, control_error(a.message));
        } else if constexpr (std::is_same_v<T, ReadCaughtSignals>) {
          read_caught_signals(a);
        } else if constexpr (std::is_same_v<T, ExitProcess>) {
          exit_code_ = a.code;
          uv_stop(&loop_);
        } else {
          // An Action the shell does not carry out is a build error.
          static_assert(sizeof(T) == 0, "an Action without a case here");
        }
      },
      action);
}

void Runtime::do_signal(const SendSignal& s) {
  if (s.pid <= 0) return;  // never kill(0) or kill(-1)
  if (s.target != Target::kProcess) {
    if (::kill(-s.pid, s.sig) == 0) return;
    // kGroup: the leader is gone and its pid may be anyone's by now.
    if (s.target == Target::kGroup) return;
  }
  if (::kill(s.pid, s.sig) != 0 && errno != ESRCH) {
    log(LogLevel::kWarn, "kill failed",
        {{"pid", std::to_string(s.pid)},
         {"signal", signal_name(s.sig)},
         {"error", strerror(errno)}});
  }
}

// Every child of byed's (adopted orphans) outside the generations' groups,
// each told a given signal once (OrphanLedger): new orphans appear as their
// parents die, and the ones already told are not told again.
void Runtime::signal_orphans(const SignalOrphans& s) {
  const auto& groups = s.generation_groups;
  for (pid_t pid : own_children_.list()) {
    // The ledger first: a stop with N orphans reaps N times, and asking
    // each child's group every time would be N² system calls. A worker's
    // leader is no orphan: no need to ask its group.
    if (!orphans_.should_tell(pid, s.sig) ||
        std::find(groups.begin(), groups.end(), pid) != groups.end()) {
      continue;
    }
    pid_t pgid = getpgid(pid);
    if (pgid < 0) continue;  // gone since it was listed: nothing to tell
    if (std::find(groups.begin(), groups.end(), pgid) != groups.end()) {
      continue;
    }
    if (::kill(pid, s.sig) == 0) orphans_.told(pid, s.sig);
  }
}

// Hands the terminal to `pgid` (0: byed's own group) if byed's group or the
// group it last gave it to holds it now: a shell's terminal is never taken.
void Runtime::give_terminal(int pgid) {
  if (!isatty(STDIN_FILENO)) return;
  pid_t fg = tcgetpgrp(STDIN_FILENO);
  if (fg <= 0 || (fg != getpgrp() && fg != terminal_pgid_)) return;
  pid_t to = pgid > 0 ? pgid : getpgrp();
  // SIGTTOU is blocked in byed, so this works from the background too.
  if (tcsetpgrp(STDIN_FILENO, to) == 0) {
    terminal_pgid_ = pgid > 0 ? pgid : 0;
  } else {
    log(LogLevel::kWarn, "cannot hand the terminal on",
        {{"pgid", std::to_string(to)}, {"error", strerror(errno)}});
  }
}

// Whether generation p.gen waits on the held sockets asked about: the
// answer goes to the core, which decides what it means.
void Runtime::probe_accepting(const ProbeAccepting& p) {
  if (!inode_error_.empty()) {
    dispatch(AcceptingProbed{p.gen, AcceptingProbed::Result::kUnknown,
                             inode_error_, p.worker});
    return;
  }
  std::vector<uint64_t> inodes;
  std::vector<const std::string*> names;
  for (size_t i = 0; i < sockets_.size(); ++i) {
    const std::string& name = sockets_[i].name;
    if (!p.names.empty() &&
        std::find(p.names.begin(), p.names.end(), name) == p.names.end()) {
      continue;
    }
    inodes.push_back(held_inodes_[i]);
    names.push_back(&name);
  }
  AcceptingResult r;
  accepting_.probe(p.pid, inodes, &r);
  if (r.all_seen()) {
    std::string via;
    for (size_t i = 0; i < r.sockets.size(); ++i) {
      via +=
          (via.empty() ? "" : ", ") + describe_waiter(*names[i], r.sockets[i]);
    }
    dispatch(AcceptingProbed{p.gen, AcceptingProbed::Result::kAccepting, via,
                             p.worker});
  } else if (!r.unknown.empty()) {
    dispatch(AcceptingProbed{p.gen, AcceptingProbed::Result::kUnknown,
                             r.unknown, p.worker});
  } else {
    dispatch(
        AcceptingProbed{p.gen, AcceptingProbed::Result::kNotYet, "", p.worker});
  }
}

void Runtime::notify_systemd(const NotifySystemd& n) {
  if (own_notify_.empty()) return;
  timespec mono{};
  clock_gettime(CLOCK_MONOTONIC, &mono);
  const std::string msg = upstream_notify(
      n, getpid(),
      static_cast<int64_t>(mono.tv_sec) * 1000000 + mono.tv_nsec / 1000);
  std::string err;
  if (!msg.empty() && !send_notify(own_notify_, msg, &err)) {
    log(LogLevel::kWarn, err);
  }
}

void Runtime::write_pidfile() {
  std::string err;
  if (byed::write_pidfile(config_.pidfile, getpid(), &err)) {
    pidfile_written_ = true;
  } else {
    log(LogLevel::kError, err);
  }
}

void Runtime::write_marker(const WriteExitMarker& m) {
  char host[256] = "";
  if (gethostname(host, sizeof host - 1) != 0) {
    log(LogLevel::kWarn, "gethostname", {{"error", strerror(errno)}});
  }
  const ExitRecord r = exit_record(config_.name, m, wall_clock(), host);
  const std::string path = config_.exit_dir + "/" + marker_name(config_.name);
  std::string err, empty_because;
  if (!write_exit_marker(config_.exit_dir, r, &err, &empty_because)) {
    log(LogLevel::kError, err);
  } else if (!empty_because.empty()) {
    log(LogLevel::kError, empty_because);
    log(LogLevel::kWarn, "left an empty exit marker instead: followers stop",
        {{"path", path}});
  } else {
    log(LogLevel::kInfo, "left exit marker", {{"path", path}});
  }
}

// --ready-dir: NAME.ready, written whole before it is visible; removed
// when byed exits.
void Runtime::write_ready_marker() {
  const std::string name = ready_marker_name(config_.name);
  std::string err;
  if (write_file_atomically(config_.ready_dir, name,
                            ready_marker_json(config_.name, getpid()), 0644,
                            &err)) {
    ready_marker_written_ = true;
    log(LogLevel::kInfo, "left ready marker",
        {{"path", config_.ready_dir + "/" + name}});
  } else {
    log(LogLevel::kError, "write ready marker " + err);
  }
}

// --wait-for: the entries of --ready-dir, present and appearing.
void Runtime::watch_ready_dir() {
  ready_watch_ = std::make_unique<ExitDirWatcher>(
      &loop_, config_.ready_dir, ready_marker_name(config_.name),
      [this](const std::string& entry) { dispatch(ReadyDirEntry{entry}); },
      [this](bool error, const std::string& message) {
        log(error ? LogLevel::kError : LogLevel::kWarn, message);
      });
  std::string err;
  if (!ready_watch_->start(&err)) log(LogLevel::kError, err);
}

// A process already gone has nothing to say: no event.
void Runtime::read_caught_signals(const ReadCaughtSignals& r) {
  std::string status;
  if (!proc_status(r.pid, &status)) return;
  if (auto mask = parse_sigcgt(status)) {
    dispatch(SignalsCaught{r.gen, r.pid, *mask});
  }
}

}  // namespace byed
