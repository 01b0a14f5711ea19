// runtime_start.cc — start-up: carries out the core's StartupPlan
// (startup.h) in order — inherited signal dispositions, --log-child,
// subreaper, --ready-dir, the signalfd, the control socket, the EXIT_DIR
// watch, the parent-death signal, a stale PIDFILE — and says which step
// failed. What to do, and the exit code of a failure, are the plan's.
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "environment.h"
#include "loop.h"
#include "pidfile.h"

namespace byed {

bool Runtime::start(const StartupPlan& plan) {
  ignored_signals_ = plan.ignored;
  if (plan.reset_sigchld) signal(SIGCHLD, SIG_DFL);
  for (const LogRecord& note : plan.notes) logger_.write(note);
  // A closed stderr or a peer that went away must not kill byed.
  signal(SIGPIPE, SIG_IGN);
  start_child_output();

  if (plan.become_subreaper && prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    log(LogLevel::kWarn, "cannot become subreaper; orphans go to init",
        {{"error", strerror(errno)}});
  }
  if (plan.reaper_note) logger_.write(*plan.reaper_note);
  byed_started_ = wall_clock();
  const pid_t parent = getppid();
  if (plan.make_ready_dir && mkdir(config_.ready_dir.c_str(), 0755) != 0 &&
      errno != EEXIST) {
    log(LogLevel::kError,
        "mkdir " + config_.ready_dir + ": " + strerror(errno));
    exit_code_ = startup_exit_code(StartupStep::kReadyDir);
    return false;
  }
  std::string err;
  if (!start_signals(plan, &err)) {
    log(LogLevel::kError, err);
    exit_code_ = startup_exit_code(StartupStep::kSignals);
    return false;
  }
  if (plan.listen_control) {
    start_control();
    if (!control_->listen(config_.control, &err)) {
      log(LogLevel::kError, err);
      exit_code_ = startup_exit_code(StartupStep::kControl);
      return false;
    }
  }
  if (plan.watch_exit_dir && !start_exit_watch(&err)) {
    log(LogLevel::kError, err);
    exit_code_ = startup_exit_code(StartupStep::kExitDir);
    return false;
  }
  if (plan.parent_death_signal > 0) {
    ask_parent_death_signal(plan.parent_death_signal, parent);
  }
  for (size_t i = 0; i < sockets_.size(); ++i) {
    const HeldSocket& s = sockets_[i];
    log(LogLevel::kInfo, "holding socket",
        {{"child_fd", std::to_string(3 + i)},
         {"name", s.name},
         {"address", s.address},
         {"from", s.from_systemd ? "systemd" : "listen"}});
  }
  if (plan.clear_stale_pidfile) {
    std::string note;
    if (!clear_stale_pidfile(config_.pidfile, &note, &err)) {
      log(LogLevel::kWarn, err);
    } else if (!note.empty()) {
      log(LogLevel::kWarn, note);
    }
  }
  return true;
}

// Signals arrive through a signalfd watched by the loop: they stay blocked
// (so nothing runs in signal context and no syscall sees EINTR), and a
// blocked signal is queued even for PID 1, whose default-disposition
// signals the kernel would otherwise drop. spawn.cc unblocks them in the
// child.
bool Runtime::start_signals(const StartupPlan& plan, std::string* err) {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : plan.watched) sigaddset(&set, sig);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) {
    *err = std::string("cannot block signals: ") + strerror(errno);
    return false;
  }
  signal_fd_.reset(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signal_fd_) {
    *err = std::string("cannot watch signals: signalfd: ") + strerror(errno);
    return false;
  }
  int rc = signal_poll_.init(uv_poll_init, &loop_, this, signal_fd_.get());
  if (rc == 0) {
    rc = uv_poll_start(signal_poll_.get(), UV_READABLE, &Runtime::on_signals);
  }
  if (rc != 0) {
    *err = std::string("cannot watch signals: ") + uv_strerror(rc);
    return false;
  }
  return true;
}

void Runtime::start_control() {
  control_ = std::make_unique<ControlServer>(
      &loop_, [this](const ControlRequest& req) { dispatch(req); },
      [this](const std::string& note) { log(LogLevel::kWarn, note); });
}

// Watched (and scanned) before the first generation: an entry already
// there means the group is stopping, and the child is not started at all.
bool Runtime::start_exit_watch(std::string* err) {
  exit_watch_ = std::make_unique<ExitDirWatcher>(
      &loop_, config_.exit_dir, marker_name(config_.name),
      [this](const std::string& entry) { dispatch(ExitDirEntry{entry}); },
      [this](bool error, const std::string& message) {
        log(error ? LogLevel::kError : LogLevel::kWarn, message);
      });
  return exit_watch_->start(err);
}

// tini -p: the signal arrives through the signalfd like any other (so TERM
// stops byed, and --rewrite applies). A parent that died before this is
// caught by comparing with the parent byed started with.
void Runtime::ask_parent_death_signal(int sig, pid_t parent) {
  if (prctl(PR_SET_PDEATHSIG, sig) != 0) {
    log(LogLevel::kWarn, "cannot ask for a parent-death signal",
        {{"error", strerror(errno)}});
  } else if (getppid() != parent) {
    ::kill(getpid(), sig);
  }
}

// --log-child: byed reads the generations' output (child_output.h). byed's
// own records then go through the same queue, and a child no longer writes
// to the journal's stream itself, so JOURNAL_STREAM is not passed on.
void Runtime::start_child_output() {
  child_output_ = open_child_output(
      &loop_, config_.log_child, config_.name,
      [this](const std::string& note) { log(LogLevel::kWarn, note); });
  if (!child_output_) return;
  logger_.redirect([out = child_output_.get()](std::string_view line) {
    out->write_own(line);
  });
  remove_env_var(&child_env_, "JOURNAL_STREAM");
}

}  // namespace byed
