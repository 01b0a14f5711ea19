#include "spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "fd.h"
#include "text.h"

namespace byed {
namespace {

// Variables whose value is the child's own pid, known only after fork.
constexpr int kPidDigits = 20;

// What the child reports over the error pipe before it exits.
struct ChildFailure {
  int stage;  // 0: setting up, 1: exec
  int err;
};

[[noreturn]] void child_fail(int errfd, int stage, int err) {
  ChildFailure f{stage, err};
  ssize_t n;
  do {
    n = ::write(errfd, &f, sizeof f);
  } while (n < 0 && errno == EINTR);
  _exit(stage == 1 && (err == ENOENT || err == ENOTDIR) ? 127 : 126);
}

void write_decimal(char* out, long v) {  // async-signal-safe
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0);
  while (n > 0) *out++ = tmp[--n];
  *out = '\0';
}

void close_from(unsigned first, unsigned last) {
  if (first > last) return;
  if (syscall(SYS_close_range, first, last, 0) == 0) return;
  // Kernels before 5.9: byed's own fds are close-on-exec anyway; this also
  // closes what byed inherited, up to a sane bound.
  rlimit rl{};
  unsigned top = 65536;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < top) {
    top = static_cast<unsigned>(rl.rlim_cur);
  }
  for (unsigned fd = first; fd <= last && fd < top; ++fd) ::close(fd);
}

struct ChildPlan {
  const std::vector<std::string>* candidates;
  char* const* argv;
  char* const* envp;
  char* const* pid_slots;  // inside envp: the child writes its pid there
  int npid_slots;
  const int* sources;  // fds to place at 3..3+n-1
  int nsources;
  int errfd;
  pid_t parent;
  bool take_terminal;
  bool new_session;
  const sigset_t* child_mask;
  bool reset_sigpipe;  // byed's own SIGPIPE ignore, not inherited
  int stdout_fd;       // -1: byed's own
  int stderr_fd;
};

[[noreturn]] void child_main(const ChildPlan& p) {
  // Every signal is blocked here (the parent blocked them before fork), so
  // no handler of byed's (a sanitizer's) can run in the child before exec
  // resets them all.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) child_fail(p.errfd, 0, errno);
  if (getppid() != p.parent) _exit(1);  // byed died before prctl
  // Either way the child leads a group whose id is its pid (a setsid that
  // failed falls back to a group of its own).
  if (!p.new_session || setsid() < 0) {
    setpgid(0, 0);
    // Unchecked on purpose: a failure leaves the terminal with byed's
    // group, nothing can be reported from here (async-signal-safe only),
    // and byed's GiveTerminal hands it on once the core asks.
    if (p.take_terminal) tcsetpgrp(STDIN_FILENO, getpid());
  }

  // --log-child's pipes become stdout and stderr (they are above 2: byed's
  // fds 0-2 are always open). The originals are close-on-exec.
  if (p.stdout_fd >= 0 && dup2(p.stdout_fd, STDOUT_FILENO) < 0) {
    child_fail(p.errfd, 0, errno);
  }
  if (p.stderr_fd >= 0 && dup2(p.stderr_fd, STDERR_FILENO) < 0) {
    child_fail(p.errfd, 0, errno);
  }

  // Move sources and the error pipe above the target range first, so that a
  // source already sitting on a target number is not overwritten, then dup2
  // them down: dup2 onto another number leaves the new fd without CLOEXEC.
  const int high = 3 + p.nsources;
  int moved[256];
  for (int i = 0; i < p.nsources; ++i) {
    moved[i] = fcntl(p.sources[i], F_DUPFD_CLOEXEC, high);
    if (moved[i] < 0) child_fail(p.errfd, 0, errno);
  }
  int errfd = fcntl(p.errfd, F_DUPFD_CLOEXEC, high);
  if (errfd < 0) child_fail(p.errfd, 0, errno);
  for (int i = 0; i < p.nsources; ++i) {
    if (dup2(moved[i], 3 + i) < 0) child_fail(errfd, 0, errno);
  }
  // Everything from `high` up is byed's: close it all but the error pipe,
  // which close-on-exec closes once exec succeeds.
  close_from(static_cast<unsigned>(high), static_cast<unsigned>(errfd) - 1);
  close_from(static_cast<unsigned>(errfd) + 1, ~0U);

  // exec resets every caught signal to its default; what stays is an
  // ignored one. byed ignores SIGPIPE itself: back to the default, unless
  // it was ignored when byed started (then it stays so, like the rest).
  if (p.reset_sigpipe) signal(SIGPIPE, SIG_DFL);
  sigprocmask(SIG_SETMASK, p.child_mask, nullptr);

  for (int i = 0; i < p.npid_slots; ++i) {
    write_decimal(p.pid_slots[i], static_cast<long>(getpid()));
  }

  int err = ENOENT;
  bool saw_eacces = false;
  for (const std::string& path : *p.candidates) {
    execve(path.c_str(), p.argv, p.envp);
    err = errno;
    if (err == ENOEXEC) {
      // No #! line: a shell script, as execvp runs it. p.argv has a free
      // slot in front (see spawn_child) for "/bin/sh".
      char** sh_argv = const_cast<char**>(p.argv) - 1;
      char* saved0 = sh_argv[1];
      sh_argv[0] = const_cast<char*>("/bin/sh");
      sh_argv[1] = const_cast<char*>(path.c_str());
      execve("/bin/sh", sh_argv, p.envp);
      sh_argv[1] = saved0;
      err = ENOEXEC;
      break;
    }
    if (err == EACCES) {
      saw_eacces = true;
    } else if (err != ENOENT && err != ENOTDIR && err != ESTALE &&
               err != ENODEV && err != ETIMEDOUT) {
      break;  // found, but it cannot run: stop looking, as execvp does
    }
  }
  if (saw_eacces && (err == ENOENT || err == ENOTDIR)) err = EACCES;
  child_fail(errfd, 1, err);
}

std::string env_value(const std::vector<std::string>& env,
                      const std::string& key) {
  for (const auto& kv : env) {
    if (kv.size() > key.size() && kv.compare(0, key.size(), key) == 0 &&
        kv[key.size()] == '=') {
      return kv.substr(key.size() + 1);
    }
  }
  return {};
}

}  // namespace

std::vector<std::string> exec_candidates(const std::string& argv0,
                                         const std::string& path) {
  if (argv0.find('/') != std::string::npos) return {argv0};
  std::vector<std::string> out;
  std::string_view dirs =
      path.empty() ? std::string_view("/usr/local/bin:/usr/bin:/bin") : path;
  for (std::string_view dir : split(dirs, ':')) {
    // An empty PATH entry means the cwd.
    out.push_back((dir.empty() ? std::string(".") : std::string(dir)) + "/" +
                  argv0);
  }
  return out;
}

bool has_controlling_terminal() {
  int fd = open("/dev/tty", O_RDONLY | O_NOCTTY | O_CLOEXEC);
  if (fd >= 0) {
    close(fd);
    return true;
  }
  if (errno == ENXIO) return false;  // the kernel's answer: none
  // No /dev/tty to ask (a bare /dev): a terminal on stdio that is our
  // session's is the controlling one.
  for (int i = 0; i <= 2; ++i) {
    if (tcgetsid(i) == getsid(0)) return true;
  }
  return false;
}

bool own_foreground_terminal() {
  if (!isatty(STDIN_FILENO)) return false;
  return tcgetpgrp(STDIN_FILENO) == getpgrp();
}

bool spawn_child(const SpawnRequest& req, SpawnedChild* out, std::string* err) {
  const std::string& argv0 = req.argv.at(0);
  std::vector<std::string> candidates =
      exec_candidates(argv0, env_value(req.env, "PATH"));

  // Environment: the caller's, then what the fd layout implies.
  std::vector<std::string> env = req.env;
  std::vector<int> sources = req.listen_fds;
  std::vector<size_t> pid_vars;  // indexes of LISTEN_PID=, WATCHDOG_PID=
  auto add_pid_var = [&](const std::string& name) {
    pid_vars.push_back(env.size());
    env.push_back(name + "=" + std::string(kPidDigits, '0'));
  };
  if (!req.listen_fds.empty()) {
    env.push_back("LISTEN_FDS=" + std::to_string(req.listen_fds.size()));
    std::string names;
    for (size_t i = 0; i < req.listen_fds.size(); ++i) {
      if (i > 0) names += ':';
      names += i < req.listen_names.size() ? req.listen_names[i] : "unknown";
    }
    env.push_back("LISTEN_FDNAMES=" + names);
    add_pid_var("LISTEN_PID");
  }
  if (req.watchdog_usec > 0) {
    env.push_back("WATCHDOG_USEC=" + std::to_string(req.watchdog_usec));
    add_pid_var("WATCHDOG_PID");
  }
  if (req.upgrade_fd >= 0) {
    env.push_back("UPGRADE_FD=" + std::to_string(3 + sources.size()));
    sources.push_back(req.upgrade_fd);
  }
  if (sources.size() > 256) {
    *err = "too many sockets to pass (at most 255)";
    return false;
  }

  // argv with one free slot in front, for "/bin/sh" should the program turn
  // out to be a script without #!.
  std::vector<char*> argv{nullptr};
  for (const auto& a : req.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<char*> pid_slots;
  for (size_t i : pid_vars) {
    pid_slots.push_back(env[i].data() + env[i].find('=') + 1);
  }

  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) {
    *err = std::string("pipe: ") + strerror(errno);
    return false;
  }
  UniqueFd err_read(pipefd[0]), err_write(pipefd[1]);

  sigset_t all, old, empty;
  sigfillset(&all);
  sigemptyset(&empty);
  sigprocmask(SIG_SETMASK, &all, &old);

  ChildPlan plan{&candidates,
                 argv.data() + 1,
                 envp.data(),
                 pid_slots.data(),
                 static_cast<int>(pid_slots.size()),
                 sources.data(),
                 static_cast<int>(sources.size()),
                 err_write.get(),
                 getpid(),
                 req.take_terminal,
                 req.new_session,
                 &empty,
                 std::find(req.ignored.begin(), req.ignored.end(), SIGPIPE) ==
                     req.ignored.end(),
                 req.stdout_fd,
                 req.stderr_fd};

  pid_t pid = fork();
  if (pid == 0) child_main(plan);
  int fork_errno = errno;
  sigprocmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) {
    *err = std::string("fork: ") + strerror(fork_errno);
    return false;
  }
  err_write.reset();
  // Unchecked on purpose: should it fail, the fd stays blocking, which is
  // harmless — it is read only when the loop says it is readable, or once
  // the child is gone.
  fcntl(err_read.get(), F_SETFL, O_NONBLOCK);
  out->pid = pid;
  out->exec_status = std::move(err_read);
  return true;
}

ExecStatus read_exec_status(int fd, const std::string& argv0,
                            std::string* err) {
  ChildFailure f{};
  ssize_t n;
  do {
    n = ::read(fd, &f, sizeof f);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) return ExecStatus::kPending;
  if (n != static_cast<ssize_t>(sizeof f)) return ExecStatus::kRan;  // EOF
  *err = (f.stage == 1 ? "cannot run '" + argv0 + "': "
                       : "cannot set up '" + argv0 + "': ") +
         strerror(f.err);
  return ExecStatus::kFailed;
}

}  // namespace byed
