#include "loop.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <nlohmann/json.hpp>

#include "atomic_file.h"
#include "notify.h"
#include "pidfile.h"
#include "proc.h"
#include "signals.h"
#include "spawn.h"

namespace byed {
namespace {

timespec wall_now() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return now;
}

Now now() {
  timespec mono{};
  clock_gettime(CLOCK_MONOTONIC, &mono);
  return Now(wall_now(),
             static_cast<int64_t>(mono.tv_sec) * 1000 + mono.tv_nsec / 1000000);
}

}  // namespace

std::vector<std::string> child_environment(char** environ_in) {
  std::vector<std::string> env;
  for (char** e = environ_in; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv = *e;
    if (!consumed_env_var(kv.substr(0, kv.find('=')))) env.emplace_back(kv);
  }
  return env;
}

Runtime::Runtime(Config config, std::vector<HeldSocket> sockets,
                 const Logger& logger)
    : config_(std::move(config)),
      sockets_(std::move(sockets)),
      logger_(logger),
      core_(config_),
      child_env_(child_environment(environ)) {
  if (const char* n = getenv("NOTIFY_SOCKET")) own_notify_ = n;
  uv_loop_init(&loop_);
  loop_.data = this;
  // What a probe sees of the held sockets: BYED_SOCKETS=name=address,...
  // and BYED_ADDRESS, the first one's address (curl http://$BYED_ADDRESS/).
  probe_env_ = child_env_;
  std::string all;
  for (const HeldSocket& s : sockets_) {
    all += (all.empty() ? "" : ",") + s.name + "=" + s.address;
  }
  if (!sockets_.empty()) {
    probe_env_.push_back("BYED_SOCKETS=" + all);
    probe_env_.push_back("BYED_ADDRESS=" + sockets_.front().address);
  }
  for (const HeldSocket& h : sockets_) {
    uint64_t ino = 0;
    if (!held_socket_inode(h.fd.get(), &ino, &inode_error_)) break;
    held_inodes_.push_back(ino);
  }
  probes_ = std::make_unique<ProbeRunner>(
      &loop_, [this](ProbeDone done) { dispatch(std::move(done)); });
}

Runtime::~Runtime() {
  if (child_output_) logger_.redirect(nullptr);
  child_output_.reset();
  probes_.reset();
  group_timer_.reset();
  exit_watch_.reset();
  ready_watch_.reset();
  control_.reset();
  gen_io_.clear();
  signal_poll_.reset();
  timers_.clear();
  // Let the close callbacks run so every handle is freed before the loop.
  // NOWAIT, and more than once: a uv_stop() from before the loop ever ran
  // makes the first pass return before it closes anything.
  for (int i = 0; i < 4 && uv_loop_close(&loop_) == UV_EBUSY; ++i) {
    uv_run(&loop_, UV_RUN_NOWAIT);
  }
  unlink_bound_sockets(sockets_);
}

void Runtime::log(LogLevel level, std::string message, LogFields fields) {
  logger_.write(LogRecord{level, 0, std::move(message), std::move(fields)});
}

// Signals, the control socket and the EXIT_DIR watch: everything that must
// be in place before the first generation starts. Logs what failed.
bool Runtime::start_watches() {
  // Signals arrive through a signalfd watched by the loop: they stay blocked
  // (so nothing runs in signal context and no syscall sees EINTR), and a
  // blocked signal is queued even for PID 1, whose default-disposition
  // signals the kernel would otherwise drop. spawn.cc unblocks them in the
  // child.
  // A signal ignored when byed started (nohup, a background job's INT and
  // QUIT) stays ignored: not caught, not forwarded, and still ignored in
  // every generation, as tini does.
  sigset_t set;
  sigemptyset(&set);
  for (int sig : caught_signals()) {
    bool ignored = false;
    for (int i : ignored_signals_) ignored |= i == sig;
    if (!ignored) sigaddset(&set, sig);
  }
  std::string what = "cannot watch signals";
  int rc = 0;
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) {
    rc = -errno;
    what = "cannot block signals";
  } else if (signal_fd_.reset(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
             !signal_fd_) {
    rc = -errno;
  } else if ((rc = signal_poll_.init(uv_poll_init, &loop_, this,
                                     signal_fd_.get())) == 0) {
    rc = uv_poll_start(signal_poll_.get(), UV_READABLE, &Runtime::on_signals);
  }
  if (rc != 0) {
    log(LogLevel::kError, what, {{"error", uv_strerror(rc)}});
    return false;
  }

  if (!config_.control.empty()) {
    control_ = std::make_unique<ControlServer>(
        &loop_,
        [this](const ControlRequest& req) { dispatch(req); },
        [this](const std::string& note) { log(LogLevel::kWarn, note); });
    std::string err;
    if (!control_->listen(config_.control, &err)) {
      log(LogLevel::kError, err);
      return false;
    }
  }
  if (config_.follower()) {
    // Watch (and scan) before the first generation: an entry already there
    // means the group is stopping, and the child is not started at all.
    exit_watch_ = std::make_unique<ExitDirWatcher>(
        &loop_, config_.exit_dir, marker_name(config_.name),
        [this](const std::string& entry) { dispatch(ExitDirEntry{entry}); },
        [this](bool error, const std::string& message) {
          log(error ? LogLevel::kError : LogLevel::kWarn, message);
        });
    std::string err;
    if (!exit_watch_->start(&err)) {
      log(LogLevel::kError, err);
      exit_code_ = 2;
      return false;
    }
  }
  return true;
}

int Runtime::run() {
  ignored_signals_ = ignored_signals();
  // An inherited SIGCHLD ignore is the exception: with it the kernel reaps
  // every child itself, so byed could never learn an exit status. Back to
  // the default, for byed and so for its generations.
  auto chld =
      std::find(ignored_signals_.begin(), ignored_signals_.end(), SIGCHLD);
  if (chld != ignored_signals_.end()) {
    ignored_signals_.erase(chld);
    signal(SIGCHLD, SIG_DFL);
    log(LogLevel::kWarn,
        "SIGCHLD was ignored by whoever started byed: reset to the default");
  }
  const bool terminal = has_controlling_terminal();
  if (!ignored_signals_.empty()) {
    std::string names;
    for (int sig : ignored_signals_) {
      names += (names.empty() ? "" : ",") + signal_name(sig);
    }
    // A warning (tini -w's): shown with -q too.
    log(LogLevel::kWarn, "signals ignored by whoever started byed stay ignored",
        {{"signals", names}});
  }
  // A closed stderr or a peer that went away must not kill byed.
  signal(SIGPIPE, SIG_IGN);
  start_child_output();

  if (getpid() != 1 && config_.subreaper) {
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
      log(LogLevel::kWarn, "cannot become subreaper; orphans go to init",
          {{"error", strerror(errno)}});
    }
  } else if (getpid() != 1) {
    log(LogLevel::kWarn,
        "--no-subreaper and not PID 1: orphans go to init, byed neither "
        "reaps nor waits for them");
  }
  byed_started_ = wall_now();
  const pid_t parent = getppid();
  if (!config_.ready_dir.empty() &&
      mkdir(config_.ready_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    log(LogLevel::kError,
        "mkdir " + config_.ready_dir + ": " + strerror(errno));
    return 1;
  }
  if (!start_watches()) return exit_code_.value_or(1);
  if (config_.parent_death_signal > 0) {
    // tini -p: the signal arrives through the signalfd like any other (so
    // TERM stops byed, and --rewrite applies). A parent that died before
    // this line is caught by comparing with the parent byed started with.
    if (prctl(PR_SET_PDEATHSIG, config_.parent_death_signal) != 0) {
      log(LogLevel::kWarn, "cannot ask for a parent-death signal",
          {{"error", strerror(errno)}});
    } else if (getppid() != parent) {
      ::kill(getpid(), config_.parent_death_signal);
    }
  }
  for (size_t i = 0; i < sockets_.size(); ++i) {
    const HeldSocket& s = sockets_[i];
    log(LogLevel::kInfo, "holding socket",
        {{"child_fd", std::to_string(3 + i)},
         {"name", s.name},
         {"address", s.address},
         {"from", s.from_systemd ? "systemd" : "listen"}});
  }
  if (!config_.pidfile.empty()) {
    std::string note, err;
    if (!clear_stale_pidfile(config_.pidfile, &note, &err)) {
      log(LogLevel::kWarn, err);
    } else if (!note.empty()) {
      log(LogLevel::kWarn, note);
    }
  }

  if (!exit_code_) dispatch(Start{terminal, ignored_signals_});
  if (!exit_code_) uv_run(&loop_, UV_RUN_DEFAULT);
  reap();  // leave no zombie behind, whoever it was
  if (child_output_) child_output_->finish();
  // The terminal goes back to byed's own group (the job its shell knows),
  // never left to a group that is gone.
  if (terminal_pgid_ > 0 && isatty(STDIN_FILENO) &&
      tcgetpgrp(STDIN_FILENO) == terminal_pgid_) {
    tcsetpgrp(STDIN_FILENO, getpgrp());
  }
  if (pidfile_written_) remove_pidfile(config_.pidfile, getpid());
  if (ready_marker_written_) {
    unlink((config_.ready_dir + "/" + ready_marker_name()).c_str());
  }
  return exit_code_.value_or(1);
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
  child_env_.erase(std::remove_if(child_env_.begin(), child_env_.end(),
                                  [](const std::string& kv) {
                                    return kv.rfind("JOURNAL_STREAM=", 0) == 0;
                                  }),
                   child_env_.end());
}

// The one way events reach the core. An event raised while the actions of
// another are being carried out (a spawn's Spawned, a control reply that
// closes a connection) waits its turn in the queue.
void Runtime::dispatch(Event event) {
  if (dispatching_) {
    queue_.push_back(std::move(event));
    return;
  }
  dispatching_ = true;
  for (const Action& a : core_.on(event, now())) execute(a);
  while (!queue_.empty()) {
    Event next = std::move(queue_.front());
    queue_.pop_front();
    for (const Action& a : core_.on(next, now())) execute(a);
  }
  dispatching_ = false;
}

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
          watched_groups_[a.gen] = a.pgid;
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
          probes_->stop(a.gen);
        } else if constexpr (std::is_same_v<T, ArmTimer>) {
          arm_timer(a.id, a.after);
        } else if constexpr (std::is_same_v<T, CancelTimer>) {
          timers_.erase(a.id);
        } else if constexpr (std::is_same_v<T, Log>) {
          logger_.write(a.record);
        } else if constexpr (std::is_same_v<T, NotifySystemd>) {
          notify_systemd(a);
        } else if constexpr (std::is_same_v<T, WritePidfile>) {
          std::string err;
          if (config_.pidfile.empty()) return;
          if (write_pidfile(config_.pidfile, getpid(), &err)) {
            pidfile_written_ = true;
          } else {
            log(LogLevel::kError, err);
          }
        } else if constexpr (std::is_same_v<T, WriteReadyMarker>) {
          write_ready_marker();
        } else if constexpr (std::is_same_v<T, WatchReadyDir>) {
          watch_ready_dir();
        } else if constexpr (std::is_same_v<T, WriteExitMarker>) {
          write_marker(a);
        } else if constexpr (std::is_same_v<T, ReplyStatus>) {
          StatusContext ctx{getpid(), byed_started_, wall_now(), &sockets_};
          if (control_) control_->reply(a.conn, status_reply(core_.status(), ctx));
        } else if constexpr (std::is_same_v<T, ReplyUpgrade>) {
          if (control_) control_->reply(a.conn, upgrade_reply(a.result));
        } else if constexpr (std::is_same_v<T, ReplyStopping>) {
          if (control_) control_->reply(a.conn, stopping_reply(), true);
        } else if constexpr (std::is_same_v<T, ReplyError>) {
          if (control_) control_->reply(a.conn, control_error(a.message));
        } else if constexpr (std::is_same_v<T, ReadCaughtSignals>) {
          // A process already gone has nothing to say: no event.
          std::string status;
          if (!proc_status(a.pid, &status)) return;
          if (auto mask = parse_sigcgt(status)) {
            dispatch(SignalsCaught{a.gen, a.pid, *mask});
          }
        } else if constexpr (std::is_same_v<T, ExitProcess>) {
          exit_code_ = a.code;
          uv_stop(&loop_);
        }
      },
      action);
}

// Starts watching one of a generation's fds; on failure the fd is dropped
// (the generation can still be ready by the other way, or by time).
bool Runtime::watch(GenIo& io, UniqueFd& fd, UvHandle<uv_poll_t>& poll) {
  if (!fd) return false;
  int rc = poll.init(uv_poll_init, &loop_, &io, fd.get());
  if (rc == 0) {
    // Which of the generation's handles fired tells which fd to read.
    rc = uv_poll_start(poll.get(), UV_READABLE, [](uv_poll_t* h, int, int) {
      auto* g = static_cast<GenIo*>(h->data);
      Runtime* r = g->runtime;
      if (h == g->exec_poll.get()) {
        r->read_exec_status(*g);
      } else if (h == g->ready_poll.get()) {
        r->read_ready_pipe(*g);
      } else {
        r->read_notify(*g);
      }
    });
  }
  if (rc != 0) {
    log(LogLevel::kError, "cannot watch a generation's fd",
        {{"gen", std::to_string(io.gen)}, {"error", uv_strerror(rc)}});
    poll.reset();
    fd.reset();
    return false;
  }
  return true;
}

void Runtime::do_spawn(const SpawnGeneration& a) {
  int gen = a.gen;
  SpawnRequest req;
  req.argv = config_.command;
  req.env = child_env_;
  req.ignored = ignored_signals_;
  req.watchdog_usec = config_.systemd_watchdog_usec;
  // Only when byed's own group holds the terminal: never steal it from a
  // shell that put byed in the background.
  req.take_terminal = a.take_terminal && own_foreground_terminal();
  req.new_session = a.new_session;
  for (const HeldSocket& s : sockets_) {
    req.listen_fds.push_back(s.fd.get());
    req.listen_names.push_back(s.name);
  }
  auto io = std::make_unique<GenIo>();
  io->runtime = this;
  io->gen = gen;
  // UPGRADE_FD: the write end goes to the child, we keep the read end.
  int p[2];
  UniqueFd ready_write;
  if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0) {
    io->ready_read.reset(p[0]);
    ready_write.reset(p[1]);
    // The child's end blocks, as a pipe it inherits normally would.
    fcntl(p[1], F_SETFL, 0);
    req.upgrade_fd = ready_write.get();
  } else {
    log(LogLevel::kError, "ready pipe", {{"error", strerror(errno)}});
  }
  NotifyEndpoint ep;
  std::string err;
  if (open_notify_endpoint(gen, &ep, &err)) {
    io->notify = std::move(ep.fd);
    req.env.push_back("NOTIFY_SOCKET=" + ep.address);
  } else {
    log(LogLevel::kError, err);
  }

  ChildPipes pipes;
  if (child_output_ && !child_output_->make_pipes(&pipes, &err)) {
    log(LogLevel::kError, err);  // the child writes to byed's own then
  }
  req.stdout_fd = pipes.out_write.get();
  req.stderr_fd = pipes.err_write.get();

  SpawnedChild child;
  if (!spawn_child(req, &child, &err)) {
    dispatch(Spawned{gen, -1, err});
    return;
  }
  ready_write.reset();  // only the child holds the write end now
  if (child_output_) child_output_->attach(gen, child.pid, std::move(pipes));
  io->pid = child.pid;
  io->exec_status = std::move(child.exec_status);
  if (req.take_terminal) terminal_pgid_ = child.pid;
  GenIo& g = *io;
  gen_io_[gen] = std::move(io);
  dispatch(Spawned{gen, child.pid, ""});
  watch(g, g.exec_status, g.exec_poll);
  watch(g, g.ready_read, g.ready_poll);
  watch(g, g.notify, g.notify_poll);
}

// The child's exec-error pipe: EOF once exec succeeded, or why it failed.
void Runtime::read_exec_status(GenIo& io) {
  std::string err;
  ExecStatus s = byed::read_exec_status(io.exec_status.get(),
                                        config_.command.front(), &err);
  if (s == ExecStatus::kPending) return;
  io.exec_poll.reset();
  io.exec_status.reset();
  dispatch(Exec{io.gen, s == ExecStatus::kRan ? "" : err});
}

// A byte on UPGRADE_FD: ready (bye's protocol, once per pid). Later bytes
// are read and dropped, so a chatty child never blocks on a full pipe.
void Runtime::read_ready_pipe(GenIo& io) {
  char buf[4096];
  bool got = false;
  for (int i = 0; i < 16; ++i) {  // bounded: a flood cannot starve the loop
    ssize_t n = ::read(io.ready_read.get(), buf, sizeof buf);
    if (n > 0) {
      got = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {  // every writer closed it
      io.ready_poll.reset();
      io.ready_read.reset();
    }
    break;
  }
  if (got && !io.ready_said) {
    io.ready_said = true;
    dispatch(ChildReady{io.gen, "pipe"});
  }
}

// Datagrams on this generation's NOTIFY_SOCKET. READY=1 from a process of
// this generation counts; anything from outside it is logged and dropped.
void Runtime::read_notify(GenIo& io) {
  NotifyDatagram d;
  for (int i = 0; i < 64 && receive_notify(io.notify.get(), d); ++i) {
    if (!sender_in_generation(d, io.pid, getpid(), geteuid())) {
      if (logger_.enabled(LogLevel::kDebug)) {
        log(LogLevel::kDebug,
            "notify message from outside the generation ignored",
            {{"gen", std::to_string(io.gen)},
             {"sender", std::to_string(d.sender)}});
      }
      continue;
    }
    auto kv = parse_notify(d.text);
    auto ready = kv.find("READY");
    if (ready != kv.end() && ready->second == "1") {
      dispatch(ChildReady{io.gen, "notify"});
    }
    ChildSaid said;
    said.gen = io.gen;
    auto watchdog = kv.find("WATCHDOG");
    if (watchdog != kv.end()) {
      said.watchdog = watchdog->second == "1";
      said.watchdog_trigger = watchdog->second == "trigger";
    }
    if (auto status = kv.find("STATUS"); status != kv.end()) {
      said.status = status->second;
    }
    if (auto extend = kv.find("EXTEND_TIMEOUT_USEC"); extend != kv.end()) {
      said.extend_timeout_usec = strtoull(extend->second.c_str(), nullptr, 10);
    }
    if (said.watchdog || said.watchdog_trigger || said.status ||
        said.extend_timeout_usec > 0) {
      dispatch(std::move(said));
    }
  }
}

void Runtime::notify_systemd(const NotifySystemd& n) {
  if (own_notify_.empty()) return;
  std::string msg;
  auto line = [&msg](const std::string& l) {
    if (!msg.empty()) msg += '\n';
    msg += l;
  };
  if (const char* state = notify_state_line(n.state)) line(state);
  if (!n.status.empty()) line("STATUS=" + n.status);
  if (n.extend_timeout_usec > 0) {
    line("EXTEND_TIMEOUT_USEC=" + std::to_string(n.extend_timeout_usec));
  }
  if (n.state == NotifySystemd::State::kReady) {
    line("MAINPID=" + std::to_string(getpid()));
  } else if (n.state == NotifySystemd::State::kReloading) {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    line("MONOTONIC_USEC=" +
         std::to_string(static_cast<long long>(ts.tv_sec) * 1000000 +
                        ts.tv_nsec / 1000));
  }
  std::string err;
  if (!msg.empty() && !send_notify(own_notify_, msg, &err)) {
    log(LogLevel::kWarn, err);
  }
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

void Runtime::arm_timer(const TimerId& id, Millis after) {
  timers_.erase(id);
  UvHandle<uv_timer_t> h;
  h.init(uv_timer_init, &loop_, this);  // cannot fail
  uv_timer_start(h.get(), &Runtime::on_timer,
                 static_cast<uint64_t>(after.count()), 0);
  timers_.emplace(id, std::move(h));
}

void Runtime::on_timer(uv_timer_t* handle) {
  auto* self = static_cast<Runtime*>(handle->data);
  for (auto it = self->timers_.begin(); it != self->timers_.end(); ++it) {
    if (it->second.get() != handle) continue;
    TimerId id = it->first;
    self->timers_.erase(it);  // one-shot: close the handle now
    self->dispatch(TimerFired{id});
    return;
  }
}

void Runtime::on_signals(uv_poll_t* handle, int status, int /*events*/) {
  auto* self = static_cast<Runtime*>(handle->data);
  if (status < 0) {
    self->log(LogLevel::kError, "signal watch failed",
              {{"error", uv_strerror(status)}});
    return;
  }
  signalfd_siginfo info[16];
  while (!self->exit_code_) {
    ssize_t n = ::read(self->signal_fd_.get(), info, sizeof info);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // EAGAIN: drained
    for (size_t i = 0; i < static_cast<size_t>(n) / sizeof info[0]; ++i) {
      int sig = static_cast<int>(info[i].ssi_signo);
      if (sig == SIGCHLD) {
        self->reap();
      } else {
        self->dispatch(SignalReceived{sig});
      }
    }
    // A short read took every pending signal: no second read to learn it
    // (one syscall less per forwarded signal); one that came since wakes
    // the loop again.
    if (static_cast<size_t>(n) < sizeof info) return;
  }
}

void Runtime::write_marker(const WriteExitMarker& m) {
  ExitRecord r;
  r.name = config_.name;
  r.pid = m.pid;
  if (WIFSIGNALED(m.wait_status)) {
    r.signal = WTERMSIG(m.wait_status);
  } else {
    r.exit_code = exit_code_from_wait_status(m.wait_status);
  }
  r.started_at = m.started_at;
  r.exited_at = wall_now();
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  r.host = host;
  std::string err, empty_because;
  if (!write_exit_marker(config_.exit_dir, r, &err, &empty_because)) {
    log(LogLevel::kError, err);
  } else if (!empty_because.empty()) {
    log(LogLevel::kError, empty_because);
    log(LogLevel::kWarn, "left an empty exit marker instead: followers stop",
        {{"path", config_.exit_dir + "/" + marker_name(config_.name)}});
  } else {
    log(LogLevel::kInfo, "left exit marker",
        {{"path", config_.exit_dir + "/" + marker_name(config_.name)}});
  }
}

// --ready-dir: NAME.ready, written whole before it is visible; removed
// when byed exits.
std::string Runtime::ready_marker_name() const {
  return config_.name + ".ready";
}

void Runtime::write_ready_marker() {
  const nlohmann::json body = {{"name", config_.name}, {"pid", getpid()}};
  std::string err;
  if (write_file_atomically(config_.ready_dir, ready_marker_name(),
                            body.dump() + "\n", 0644, &err)) {
    ready_marker_written_ = true;
    log(LogLevel::kInfo, "left ready marker",
        {{"path", config_.ready_dir + "/" + ready_marker_name()}});
  } else {
    log(LogLevel::kError, "write ready marker " + err);
  }
}

// --wait-for: the entries of --ready-dir, present and appearing.
void Runtime::watch_ready_dir() {
  ready_watch_ = std::make_unique<ExitDirWatcher>(
      &loop_, config_.ready_dir, ready_marker_name(),
      [this](const std::string& entry) { dispatch(ReadyDirEntry{entry}); },
      [this](bool error, const std::string& message) {
        log(error ? LogLevel::kError : LogLevel::kWarn, message);
      });
  std::string err;
  if (!ready_watch_->start(&err)) log(LogLevel::kError, err);
}

// Hands the terminal to `pgid` (0: byed's own group) if byed's group or the
// group it last gave it to holds it now: a shell's terminal is never taken.
void Runtime::give_terminal(int pgid) {
  if (!isatty(STDIN_FILENO)) return;
  pid_t fg = tcgetpgrp(STDIN_FILENO);
  if (fg <= 0 || (fg != getpgrp() && fg != terminal_pgid_)) return;
  pid_t to = pgid > 0 ? pgid : getpgrp();
  // SIGTTOU is blocked in byed, so this works from the background too.
  if (tcsetpgrp(STDIN_FILENO, to) == 0) terminal_pgid_ = pgid > 0 ? pgid : 0;
}

// Every child of byed's (adopted orphans) outside the generations' groups.
// Each gets a given signal once: new orphans appear as their parents die,
// and the ones already told are not told again.
void Runtime::signal_orphans(const SignalOrphans& s) {
  for (pid_t pid : own_children()) {
    // The ones already told first: a stop with N orphans reaps N times, and
    // asking each child's group every time would be N² system calls.
    auto told = orphans_told_.find(pid);
    if (told != orphans_told_.end() && told->second == s.sig) continue;
    pid_t pgid = getpgid(pid);
    bool in_generation = false;
    for (int g : s.generation_groups) in_generation |= g == pgid;
    if (in_generation) continue;
    if (::kill(pid, s.sig) == 0) orphans_told_[pid] = s.sig;
  }
}

// Whether generation p.gen waits on the held sockets asked about: the
// answer goes to the core, which decides what it means.
void Runtime::probe_accepting(const ProbeAccepting& p) {
  if (!inode_error_.empty()) {
    dispatch(AcceptingProbed{p.gen, AcceptingProbed::Result::kUnknown,
                             inode_error_});
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
    dispatch(AcceptingProbed{p.gen, AcceptingProbed::Result::kAccepting, via});
  } else if (!r.unknown.empty()) {
    dispatch(
        AcceptingProbed{p.gen, AcceptingProbed::Result::kUnknown, r.unknown});
  } else {
    dispatch(AcceptingProbed{p.gen, AcceptingProbed::Result::kNotYet, ""});
  }
}

// GroupEmpty for each watched group that has no member left. kill(-pgid, 0)
// fails with ESRCH only then (EPERM: members byed may not signal).
void Runtime::check_groups() {
  std::vector<int> empty;
  for (auto it = watched_groups_.begin(); it != watched_groups_.end();) {
    if (::kill(-it->second, 0) != 0 && errno == ESRCH) {
      empty.push_back(it->first);
      it = watched_groups_.erase(it);
    } else {
      ++it;
    }
  }
  // Dispatched once the map is no longer walked: the core's actions may
  // watch another group.
  for (int gen : empty) dispatch(GroupEmpty{gen});
  // Members that are not byed's children (they left for another parent, or
  // byed is no subreaper) end without a SIGCHLD to byed: look again soon.
  if (watched_groups_.empty()) {
    group_timer_.reset();
  } else if (!group_timer_) {
    group_timer_ = std::make_unique<UvHandle<uv_timer_t>>();
    group_timer_->init(uv_timer_init, &loop_, this);  // cannot fail
    uv_timer_start(
        group_timer_->get(),
        [](uv_timer_t* h) { static_cast<Runtime*>(h->data)->check_groups(); },
        100, 100);
  }
}

void Runtime::reap() {
  while (true) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG | WUNTRACED | WCONTINUED);
    if (pid < 0 && errno == EINTR) continue;
    if (pid <= 0) break;  // 0: none exited; -1/ECHILD: no children left
    if (WIFCONTINUED(status)) {
      dispatch(ChildContinued{pid});
      continue;
    }
    if (WIFSTOPPED(status)) {
      dispatch(ChildStopped{pid, WSTOPSIG(status)});
      continue;
    }
    orphans_told_.erase(pid);
    probes_->reaped(pid, status);  // a probe's result, before it is gone
    // A generation that said "ready" (or failed to exec) and exited at once:
    // hear what it said before hearing that it died.
    auto io = gen_io_.end();
    for (auto it = gen_io_.begin(); it != gen_io_.end(); ++it) {
      if (it->second->pid == pid) io = it;
    }
    if (io != gen_io_.end()) {
      GenIo& g = *io->second;
      if (g.exec_status) read_exec_status(g);
      if (g.ready_read) read_ready_pipe(g);
      if (g.notify) read_notify(g);
      if (child_output_) child_output_->drain(pid);  // its last lines first
    }
    bool leader = io != gen_io_.end();
    if (leader) gen_io_.erase(io);
    bool group_alive = leader && (::kill(-pid, 0) == 0 || errno == EPERM);
    siginfo_t si{};
    bool children_left =
        waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0;
    dispatch(ChildExited{pid, status, group_alive, children_left,
                         terminal_pgid_ == pid});
  }
  if (!watched_groups_.empty()) check_groups();
}

}  // namespace byed
