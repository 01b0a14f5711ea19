#include "loop.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "notify.h"
#include "pidfile.h"
#include "signals.h"
#include "spawn.h"

namespace byed {
namespace {

bool consumed_by_byed(const std::string& kv) {
  static constexpr const char* kExact[] = {"EXIT_DIR", "PIDFILE",
                                           "NOTIFY_SOCKET"};
  static constexpr const char* kPrefix[] = {"LISTEN_", "WATCHDOG_", "BYED_"};
  std::string key = kv.substr(0, kv.find('='));
  for (const char* k : kExact) {
    if (key == k) return true;
  }
  for (const char* p : kPrefix) {
    if (key.rfind(p, 0) == 0) return true;
  }
  return false;
}

}  // namespace

std::vector<std::string> child_environment(char** environ_in) {
  std::vector<std::string> env;
  for (char** e = environ_in; e != nullptr && *e != nullptr; ++e) {
    std::string kv = *e;
    if (!consumed_by_byed(kv)) env.push_back(std::move(kv));
  }
  return env;
}

Runtime::Runtime(Config config, std::vector<HeldSocket> sockets,
                 const Logger& logger)
    : config_(std::move(config)),
      sockets_(std::move(sockets)),
      logger_(logger),
      core_(SupervisorOptions{
          config_.stop_timeout, config_.upgrade_signal, config_.command.front(),
          logger.enabled(LogLevel::kDebug),
          !config_.exit_dir.empty() && config_.exit_leader,
          !config_.exit_dir.empty() && config_.exit_follower,
          config_.drain_signal, config_.ready_mode, config_.ready_delay,
          config_.ready_timeout}),
      child_env_(child_environment(environ)) {
  if (const char* n = getenv("NOTIFY_SOCKET")) own_notify_ = n;
  uv_loop_init(&loop_);
  loop_.data = this;
}

Runtime::~Runtime() {
  exit_watch_.reset();
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

int Runtime::run() {
  // A closed stderr or a peer that went away must not kill byed.
  signal(SIGPIPE, SIG_IGN);

  if (getpid() != 1 && config_.subreaper) {
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
      log(LogLevel::kWarn, "cannot become subreaper; orphans go to init",
          {{"error", strerror(errno)}});
    }
  }
  // Signals arrive through a signalfd watched by the loop: they stay blocked
  // (so nothing runs in signal context and no syscall sees EINTR), and a
  // blocked signal is queued even for PID 1, whose default-disposition
  // signals the kernel would otherwise drop. spawn.cc unblocks them in the
  // child.
  sigset_t set;
  sigemptyset(&set);
  for (int sig : caught_signals()) sigaddset(&set, sig);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) {
    log(LogLevel::kError, "cannot block signals", {{"error", strerror(errno)}});
    return 1;
  }
  signal_fd_.reset(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signal_fd_) {
    log(LogLevel::kError, "cannot watch signals", {{"error", strerror(errno)}});
    return 1;
  }
  if (int rc = signal_poll_.init(uv_poll_init, &loop_, this, signal_fd_.get());
      rc != 0) {
    log(LogLevel::kError, "cannot watch signals", {{"error", uv_strerror(rc)}});
    return 1;
  }
  uv_poll_start(signal_poll_.get(), UV_READABLE, &Runtime::on_signals);
  take_terminal_ = own_foreground_terminal();
  clock_gettime(CLOCK_REALTIME, &byed_started_);
  if (!config_.control.empty()) {
    control_ = std::make_unique<ControlServer>(
        &loop_,
        [this](ControlServer::ConnId id, const ControlRequest& req) {
          on_control(id, req);
        },
        [this](const std::string& note) { log(LogLevel::kWarn, note); });
    try {
      control_->listen(config_.control);
    } catch (const SocketError& e) {
      log(LogLevel::kError, e.what());
      return e.exit_code();
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
    std::string note = clear_stale_pidfile(config_.pidfile);
    if (!note.empty()) log(LogLevel::kWarn, note);
  }
  if (!config_.exit_dir.empty() && config_.exit_follower) {
    // Watch (and scan) before the first generation: an entry already there
    // means the group is stopping, and the child is not started at all.
    exit_watch_ = std::make_unique<ExitDirWatcher>(
        &loop_, config_.exit_dir, marker_name(config_.name),
        [this](const std::string& entry) { dispatch(ExitDirEntry{entry}); },
        [this](bool error, const std::string& message) {
          log(error ? LogLevel::kError : LogLevel::kWarn, message);
        });
    std::string error = exit_watch_->start();
    if (!error.empty()) {
      log(LogLevel::kError, error);
      return 2;
    }
  }
  if (!exit_code_) dispatch(Start{});
  if (!exit_code_) uv_run(&loop_, UV_RUN_DEFAULT);
  reap();  // leave no zombie behind, whoever it was
  if (pidfile_written_) remove_pidfile(config_.pidfile, getpid());
  return exit_code_.value_or(1);
}

void Runtime::dispatch(const Event& event) {
  for (const Action& a : core_.on(event)) execute(a);
  if (control_) note_transitions();
}

// Keeps per-generation times only for generations the core still knows.
// Generations are forgotten only when a process exits, so reap() calls this,
// off the path every forwarded signal takes.
void Runtime::forget_gone_generations() {
  for (auto* times : {&started_at_, &ready_at_}) {
    for (auto it = times->begin(); it != times->end();) {
      bool known = false;
      for (const auto& g : core_.generations()) known |= g.num == it->first;
      it = known ? std::next(it) : times->erase(it);
    }
  }
}

// When each generation became ready, for `byed ctl status`.
void Runtime::note_transitions() {
  for (const auto& g : core_.generations()) {
    if ((g.state == Supervisor::GenState::kReady ||
         g.state == Supervisor::GenState::kDraining) &&
        ready_at_.find(g.num) == ready_at_.end()) {
      timespec now{};
      clock_gettime(CLOCK_REALTIME, &now);
      ready_at_[g.num] = now;
    }
  }
}

void Runtime::on_control(ControlServer::ConnId id, const ControlRequest& req) {
  if (req.cmd == "status") {
    control_->reply(id, status_json());
  } else if (req.cmd == "upgrade") {
    if (core_.stopping()) {
      control_->reply(id, control_error("byed is stopping"));
      return;
    }
    // Join the upgrade in flight, or start one: every waiter gets the
    // result of the same upgrade.
    upgrade_waiters_.push_back(id);
    control_->set_waiting(id, true);
    if (core_.upgrading() == 0) dispatch(UpgradeRequested{"control"});
  } else if (req.cmd == "stop") {
    control_->reply(id,
                    {{"v", kControlVersion}, {"ok", true}, {"stopping", true}});
    // The connection stays open until byed exits: its EOF tells the client
    // that byed is gone.
    control_->set_waiting(id, true);
    stop_waiters_.push_back(id);
    dispatch(SignalReceived{SIGTERM});
  }
}

void Runtime::upgrade_finished(const UpgradeFinished& u) {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  auto it = started_at_.find(u.gen);
  double ms = 0;
  if (it != started_at_.end()) {
    ms = (now.tv_sec - it->second.tv_sec) * 1e3 +
         (now.tv_nsec - it->second.tv_nsec) / 1e6;
  }
  last_upgrade_ = {
      {"result", u.ok ? "succeeded" : "failed"},
      {"gen", u.gen},
      {"reason", u.ok ? nlohmann::json() : nlohmann::json(u.reason)},
      {"duration", format_duration(Millis{static_cast<long>(ms)})},
      {"finished_at", rfc3339(now, 3)}};
  if (!control_) return;
  nlohmann::json reply = {{"v", kControlVersion}, {"ok", u.ok}, {"gen", u.gen}};
  if (u.ok) {
    reply["pid"] = u.pid;
  } else {
    reply["reason"] = u.reason;
  }
  for (auto id : upgrade_waiters_) {
    control_->set_waiting(id, false);
    control_->reply(id, reply);
  }
  upgrade_waiters_.clear();
}

nlohmann::json Runtime::status_json() const {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  long up_ms = (now.tv_sec - byed_started_.tv_sec) * 1000 +
               (now.tv_nsec - byed_started_.tv_nsec) / 1000000;
  nlohmann::json gens = nlohmann::json::array();
  for (const auto& g : core_.generations()) {
    const char* state = nullptr;
    switch (g.state) {
      case Supervisor::GenState::kStarting:
        state = "starting";
        break;
      case Supervisor::GenState::kReady:
        state = "ready";
        break;
      case Supervisor::GenState::kDraining:
        state = "draining";
        break;
      case Supervisor::GenState::kExited:
        continue;
    }
    nlohmann::json j = {{"gen", g.num},
                        {"pid", g.pid},
                        {"state", state},
                        {"current", g.num == core_.current()}};
    auto s = started_at_.find(g.num);
    j["started_at"] = s != started_at_.end()
                          ? nlohmann::json(rfc3339(s->second, 3))
                          : nlohmann::json();
    auto r = ready_at_.find(g.num);
    j["ready_at"] = r != ready_at_.end() ? nlohmann::json(rfc3339(r->second, 3))
                                         : nlohmann::json();
    gens.push_back(j);
  }
  nlohmann::json socks = nlohmann::json::array();
  for (size_t i = 0; i < sockets_.size(); ++i) {
    socks.push_back(
        {{"fd", 3 + i},
         {"name", sockets_[i].name},
         {"address", sockets_[i].address},
         {"from", sockets_[i].from_systemd ? "systemd" : "listen"}});
  }
  return {{"v", kControlVersion},
          {"ok", true},
          {"pid", getpid()},
          {"started_at", rfc3339(byed_started_, 3)},
          {"uptime", format_duration(Millis{up_ms - up_ms % 1000})},
          {"stopping", core_.stopping()},
          {"upgrading", core_.upgrading() != 0},
          {"generations", gens},
          {"sockets", socks},
          {"last_upgrade", last_upgrade_}};
}

void Runtime::execute(const Action& action) {
  std::visit(
      [this](const auto& a) {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, SpawnGeneration>) {
          do_spawn(a.gen);
        } else if constexpr (std::is_same_v<T, SendSignal>) {
          do_signal(a);
        } else if constexpr (std::is_same_v<T, ArmTimer>) {
          arm_timer(a.id, a.after);
        } else if constexpr (std::is_same_v<T, CancelTimer>) {
          timers_.erase(a.id);
        } else if constexpr (std::is_same_v<T, Log>) {
          logger_.write(a.record);
        } else if constexpr (std::is_same_v<T, NotifySystemd>) {
          notify_systemd(a.state);
        } else if constexpr (std::is_same_v<T, WritePidfile>) {
          if (config_.pidfile.empty()) return;
          std::string error = write_pidfile(config_.pidfile, getpid());
          if (!error.empty()) {
            log(LogLevel::kError, error);
          } else {
            pidfile_written_ = true;
          }
        } else if constexpr (std::is_same_v<T, UpgradeFinished>) {
          upgrade_finished(a);
        } else if constexpr (std::is_same_v<T, WriteExitMarker>) {
          write_marker(a);
        } else if constexpr (std::is_same_v<T, ExitProcess>) {
          exit_code_ = a.code;
          uv_stop(&loop_);
        }
      },
      action);
}

void Runtime::do_spawn(int gen) {
  SpawnRequest req;
  req.argv = config_.command;
  req.env = child_env_;
  req.take_terminal = take_terminal_;
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
  if (pipe2(p, O_CLOEXEC) == 0) {
    io->ready_read.reset(p[0]);
    ready_write.reset(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    req.upgrade_fd = ready_write.get();
  } else {
    log(LogLevel::kError, "ready pipe", {{"error", strerror(errno)}});
  }
  NotifyEndpoint ep = open_notify_endpoint(gen);
  if (ep.fd) {
    io->notify = std::move(ep.fd);
    req.env.push_back("NOTIFY_SOCKET=" + ep.address);
  } else {
    log(LogLevel::kError, ep.address);
  }

  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  started_at_[gen] = now;
  SpawnResult r = spawn_child(req);
  ready_write.reset();  // only the child holds the write end now
  if (r.pid > 0 && r.error == 0) {
    io->pid = r.pid;
    GenIo* raw = io.get();
    if (io->ready_read && io->ready_poll.init(uv_poll_init, &loop_, raw,
                                              io->ready_read.get()) == 0) {
      uv_poll_start(io->ready_poll.get(), UV_READABLE,
                    [](uv_poll_t* h, int, int) {
                      auto* g = static_cast<GenIo*>(h->data);
                      g->runtime->read_ready_pipe(*g);
                    });
    }
    if (io->notify && io->notify_poll.init(uv_poll_init, &loop_, raw,
                                           io->notify.get()) == 0) {
      uv_poll_start(io->notify_poll.get(), UV_READABLE,
                    [](uv_poll_t* h, int, int) {
                      auto* g = static_cast<GenIo*>(h->data);
                      g->runtime->read_notify(*g);
                    });
    }
    gen_io_[gen] = std::move(io);
  }
  dispatch(Spawned{gen, r.pid, r.message});
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
    if (!sender_in_generation(d.sender, io.pid)) {
      if (logger_.enabled(LogLevel::kDebug)) {
        log(LogLevel::kDebug,
            "notify message from outside the generation "
            "ignored",
            {{"gen", std::to_string(io.gen)},
             {"sender", std::to_string(d.sender)}});
      }
      continue;
    }
    auto kv = parse_notify(d.text);
    auto status = kv.find("STATUS");
    if (status != kv.end()) {
      logger_.write(LogRecord{
          LogLevel::kInfo, io.gen, "status", {{"status", status->second}}});
    }
    auto ready = kv.find("READY");
    if (ready != kv.end() && ready->second == "1") {
      dispatch(ChildReady{io.gen, "notify"});
    }
  }
}

void Runtime::notify_systemd(const std::string& state) {
  if (own_notify_.empty()) return;
  std::string msg = state;
  if (msg.rfind("READY=1", 0) == 0) {
    msg += "\nMAINPID=" + std::to_string(getpid());
  }
  if (msg.rfind("RELOADING=1", 0) == 0) {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    msg += "\nMONOTONIC_USEC=" +
           std::to_string(static_cast<long long>(ts.tv_sec) * 1000000 +
                          ts.tv_nsec / 1000);
  }
  std::string error = send_notify(own_notify_, msg);
  if (!error.empty()) log(LogLevel::kWarn, error);
}

void Runtime::do_signal(const SendSignal& s) {
  if (s.pid <= 0) return;  // never kill(0) or kill(-1)
  if (s.group && ::kill(-s.pid, s.sig) == 0) return;
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
  r.started_at = started_at_[m.gen];
  clock_gettime(CLOCK_REALTIME, &r.exited_at);
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  r.host = host;
  std::string error = write_exit_marker(config_.exit_dir, r);
  if (!error.empty()) {
    log(LogLevel::kError, error);
  } else {
    log(LogLevel::kInfo, "left exit marker",
        {{"path", config_.exit_dir + "/" + marker_name(config_.name)}});
  }
}

void Runtime::reap() {
  while (true) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == EINTR) continue;
    if (pid <= 0) return;  // 0: none exited; -1/ECHILD: no children left
    // A generation that said "ready" and exited at once: hear what it said
    // before hearing that it died.
    auto io = gen_io_.end();
    for (auto it = gen_io_.begin(); it != gen_io_.end(); ++it) {
      if (it->second->pid == pid) io = it;
    }
    if (io != gen_io_.end()) {
      if (io->second->ready_read) read_ready_pipe(*io->second);
      if (io->second->notify) read_notify(*io->second);
    }
    dispatch(ChildExited{pid, status});
    if (io != gen_io_.end()) {
      gen_io_.erase(io);
      forget_gone_generations();
    }
  }
}

}  // namespace byed
