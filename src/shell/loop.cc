// loop.cc — the loop itself: Runtime's resources, the one event queue
// through which every event reaches the core, timers, the signalfd, and
// what is left to do once the loop ends. Start-up, actions, a generation's
// fds and reaping are in files of their own (see loop.h).
#include "loop.h"

#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "environment.h"
#include "pidfile.h"
#include "proc.h"
#include "spawn.h"

namespace byed {
namespace {

Now now() {
  timespec mono{};
  clock_gettime(CLOCK_MONOTONIC, &mono);
  return Now(wall_clock(),
             static_cast<int64_t>(mono.tv_sec) * 1000 + mono.tv_nsec / 1000000);
}

}  // namespace

timespec wall_clock() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return now;
}

Runtime::Runtime(Config config, std::vector<HeldSocket> sockets,
                 const Logger& logger)
    : config_(std::move(config)),
      sockets_(std::move(sockets)),
      logger_(logger),
      core_(config_),
      child_env_(child_environment(environ)) {
  if (const char* n = getenv("NOTIFY_SOCKET")) own_notify_ = n;
  if (int rc = uv_loop_init(&loop_); rc != 0) {
    log(LogLevel::kError,
        std::string("cannot start the event loop: ") + uv_strerror(rc));
  } else {
    loop_ok_ = true;
  }
  loop_.data = this;
  std::vector<std::pair<std::string, std::string>> addresses;
  for (const HeldSocket& s : sockets_)
    addresses.emplace_back(s.name, s.address);
  probe_env_ = probe_environment(child_env_, addresses);
  for (const HeldSocket& h : sockets_) {
    uint64_t ino = 0;
    if (!held_socket_inode(h.fd.get(), &ino, &inode_error_)) break;
    held_inodes_.push_back(ino);
  }
  if (loop_ok_) routed_timer_.init(uv_timer_init, &loop_, this);
  routed_.reserve(8);  // no allocation between a signal and the program
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
  routed_timer_.reset();
  timers_.clear();
  // Let the close callbacks run so every handle is freed before the loop.
  // NOWAIT, and more than once: a uv_stop() from before the loop ever ran
  // makes the first pass return before it closes anything.
  for (int i = 0; loop_ok_ && i < 4 && uv_loop_close(&loop_) == UV_EBUSY; ++i) {
    uv_run(&loop_, UV_RUN_NOWAIT);
  }
  unlink_bound_sockets(sockets_);
}

// Logging of debug records is filtered in one place: Logger::write.
void Runtime::log(LogLevel level, std::string message, LogFields fields) {
  logger_.write(LogRecord{level, 0, std::move(message), std::move(fields)});
}

int Runtime::run() {
  if (!loop_ok_) return kExitUndecided;
  StartupPlan plan = plan_startup(config_, {ignored_signals(), getpid() == 1});
  const bool terminal = has_controlling_terminal();
  if (!start(plan)) return exit_code_.value_or(kExitUndecided);
  if (!exit_code_) dispatch(Start{terminal, ignored_signals_});
  if (!exit_code_) uv_run(&loop_, UV_RUN_DEFAULT);
  finish();
  return exit_code_.value_or(kExitUndecided);
}

// Once the loop ended: nothing byed made is left behind.
void Runtime::finish() {
  reap();  // leave no zombie behind, whoever it was
  if (child_output_) child_output_->finish();
  // The terminal goes back to byed's own group (the job its shell knows),
  // never left to a group that is gone.
  if (terminal_pgid_ > 0 && isatty(STDIN_FILENO) &&
      tcgetpgrp(STDIN_FILENO) == terminal_pgid_ &&
      tcsetpgrp(STDIN_FILENO, getpgrp()) != 0) {
    log(LogLevel::kWarn, "cannot take the terminal back",
        {{"error", strerror(errno)}});
  }
  if (pidfile_written_) remove_pidfile(config_.pidfile, getpid());
  if (ready_marker_written_) {
    unlink((config_.ready_dir + "/" + ready_marker_name(config_.name)).c_str());
  }
}

// The one way events reach the core. An event raised while the actions of
// another are being carried out (a spawn's Spawned, a control reply that
// closes a connection) waits its turn in the queue.
void Runtime::dispatch(Event event) {
  if (dispatching_) {
    queue_.push_back(std::move(event));
    return;
  }
  flush_routed();  // the core sees every signal before what came after it
  dispatching_ = true;
  run_event(event, now());
  dispatching_ = false;
}

// One event to the core, its actions carried out, then the events those
// raised.
void Runtime::run_event(const Event& event, const Now& at) {
  for (const Action& a : core_.on(event, at)) execute(a);
  while (!queue_.empty()) {
    Event next = std::move(queue_.front());
    queue_.pop_front();
    for (const Action& a : core_.on(next, now())) execute(a);
  }
}

// A signal read: what the core routed for it goes out before anything
// else (no log record built, no timer armed, no orphan looked for, before
// the program has it), and the core hears of the signal once the loop
// wakes again, or kRoutedFollowUp later: a program woken on byed's CPU
// runs first. A signal without a route goes to the core at once.
void Runtime::on_signal(int sig) {
  // A route is the state the core last saw: it sees earlier signals first.
  flush_routed();
  const SignalRoute& route = core_.route(sig);
  if (route.count == 0) {
    dispatch(SignalReceived{sig});
    return;
  }
  for (int i = 0; i < route.count; ++i) do_signal(route.sends[i]);
  routed_.emplace_back(SignalReceived{sig, true}, now());
  uv_timer_start(routed_timer_.get(), &Runtime::on_routed_timer,
                 static_cast<uint64_t>(kRoutedFollowUp.count()), 0);
}

void Runtime::flush_routed() {
  if (routed_.empty() || dispatching_) return;
  uv_timer_stop(routed_timer_.get());
  dispatching_ = true;
  // Only on_signal adds to routed_, never while the core is being asked.
  for (const auto& [event, at] : routed_) run_event(event, at);
  routed_.clear();  // the room reserved at start-up stays
  dispatching_ = false;
}

void Runtime::on_routed_timer(uv_timer_t* handle) {
  static_cast<Runtime*>(handle->data)->flush_routed();
}

void Runtime::arm_timer(const TimerId& id, Millis after) {
  timers_.erase(id);
  UvHandle<uv_timer_t> h;
  h.init(uv_timer_init, &loop_, this);  // cannot fail
  int rc = uv_timer_start(h.get(), &Runtime::on_timer,
                          static_cast<uint64_t>(after.count()), 0);
  if (rc != 0) {  // only for a handle that is closing: never here
    log(LogLevel::kError, "cannot arm a timer", {{"error", uv_strerror(rc)}});
    return;
  }
  timers_.emplace(id, std::move(h));
}

void Runtime::on_timer(uv_timer_t* handle) {
  auto* self = static_cast<Runtime*>(handle->data);
  // A routed signal first: the core may cancel (or re-arm) this very timer
  // as it hears of it, and a cancelled timer must not fire.
  self->flush_routed();
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
        self->on_signal(sig);
      }
    }
    // A short read took every pending signal: no second read to learn it
    // (one syscall less per forwarded signal); one that came since wakes
    // the loop again.
    if (static_cast<size_t>(n) < sizeof info) return;
  }
}

}  // namespace byed
