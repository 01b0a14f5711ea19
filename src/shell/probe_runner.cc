#include "probe_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "signals.h"
#include "sys_error.h"

namespace byed {
namespace {

// Reads what the probe wrote so far into *tail, keeping the last 4 KiB: a
// chatty probe (`curl URL` printing a large page) never blocks on a full
// pipe.
void drain(int fd, std::string* tail) {
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n < 0) continue;
    tail->append(buf, static_cast<size_t>(n));
    if (tail->size() > sizeof buf) tail->erase(0, tail->size() - sizeof buf);
  }
}

// The last non-empty line of the text.
std::string last_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
    text.pop_back();
  }
  size_t nl = text.rfind('\n');
  return nl == std::string::npos ? text : text.substr(nl + 1);
}

}  // namespace

ProbeRunner::ProbeRunner(uv_loop_t* loop, DoneFn done)
    : loop_(loop), done_(std::move(done)) {}

ProbeRunner::~ProbeRunner() { stop(0, -1); }

void ProbeRunner::start(const RunProbe& probe, std::vector<std::string> env) {
  // A probe that cannot start is a failed probe: the core hears why.
  auto not_started = [&](const std::string& why) {
    done_(ProbeDone{probe.gen, probe.kind, probe.index, false, why,
                    probe.worker});
  };
  env.push_back("BYED_PID=" + std::to_string(probe.pid));
  env.push_back("BYED_GENERATION=" + std::to_string(probe.gen));
  env.push_back("BYED_WORKER=" + std::to_string(probe.worker));
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  std::string cmd = probe.cmd;
  char sh[] = "/bin/sh", dash_c[] = "-c";
  char* argv[] = {sh, dash_c, cmd.data(), nullptr};
  int p[2];
  if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
    not_started(sys_error("probe pipe"));
    return;
  }
  UniqueFd out_read(p[0]), out_write(p[1]);
  UniqueFd null_in(open("/dev/null", O_RDONLY | O_CLOEXEC));
  sigset_t none;
  sigemptyset(&none);
  pid_t pid = fork();
  if (pid < 0) {
    not_started(sys_error("cannot fork a probe"));
    return;
  }
  if (pid == 0) {
    // Only async-signal-safe calls from here on. Its own process group: no
    // member of the generation, none of its signals; every signal at its
    // default and unblocked (byed blocks them for its signalfd).
    setpgid(0, 0);
    for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if ((null_in && dup2(null_in.get(), STDIN_FILENO) < 0) ||
        dup2(out_write.get(), STDOUT_FILENO) < 0 ||
        dup2(out_write.get(), STDERR_FILENO) < 0) {
      // Said where the probe's output goes, if that much worked.
      static const char kMsg[] = "byed: probe: dup2 failed\n";
      ssize_t ignored = write(out_write.get(), kMsg, sizeof kMsg - 1);
      (void)ignored;
      _exit(127);
    }
    execve("/bin/sh", argv, envp.data());
    _exit(127);
  }
  setpgid(pid, pid);  // either side may run first
  auto r = std::make_unique<Running>();
  r->runner = this;
  r->probe = probe;
  r->output = std::move(out_read);
  if (r->output_poll.init(uv_poll_init, loop_, r.get(), r->output.get()) == 0) {
    uv_poll_start(r->output_poll.get(), UV_READABLE,
                  [](uv_poll_t* h, int status, int) {
                    auto* run = static_cast<Running*>(h->data);
                    drain(run->output.get(), &run->tail);
                    if (status < 0) uv_poll_stop(h);
                  });
  }
  r->timeout.init(uv_timer_init, loop_, r.get());  // cannot fail
  uv_timer_start(
      r->timeout.get(),
      [](uv_timer_t* h) {
        auto* run = static_cast<Running*>(h->data);
        run->timed_out = true;
        for (auto& [p, r] : run->runner->running_) {
          if (r.get() == run) ::kill(-p, SIGKILL);  // reaped() reports it
        }
      },
      static_cast<uint64_t>(probe.timeout.count()), 0);
  running_[pid] = std::move(r);
}

bool ProbeRunner::reaped(pid_t pid, int wait_status) {
  auto it = running_.find(pid);
  if (it == running_.end()) return false;
  std::unique_ptr<Running> r = std::move(it->second);
  running_.erase(it);
  ::kill(-pid, SIGKILL);  // whatever it left behind in its group
  bool ok = WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
  std::string detail;
  if (r->timed_out) {
    detail = "timed out after " + format_duration(r->probe.timeout);
    ok = false;
  } else if (WIFSIGNALED(wait_status)) {
    detail = "killed by signal " + signal_name(WTERMSIG(wait_status));
  } else {
    detail = "exit code " + std::to_string(WEXITSTATUS(wait_status));
  }
  drain(r->output.get(), &r->tail);
  std::string line = last_line(std::move(r->tail));
  if (!line.empty()) detail += ": " + line;
  done_(ProbeDone{r->probe.gen, r->probe.kind, r->probe.index, ok, detail,
                  r->probe.worker});
  return true;
}

void ProbeRunner::stop(int gen, int worker) {
  for (auto& [pid, r] : running_) {
    if (gen != 0 && r->probe.gen != gen) continue;
    if (worker >= 0 && r->probe.worker != worker) continue;
    ::kill(-pid, SIGKILL);
  }
}

}  // namespace byed
