// bench_crowd.h — a crowded host on demand: N idle processes that the
// benchmark starts and removes, however it ends.
//
// Each member is a fork of the benchmark that sleeps in pause(), in one
// process group of their own (one kill removes them all). A member dies with
// the benchmark (PR_SET_PDEATHSIG, so even a SIGKILLed benchmark leaves
// none) and by alarm() after a bounded time at the latest.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace bench {

class Crowd {
 public:
  Crowd() = default;
  Crowd(const Crowd&) = delete;
  Crowd& operator=(const Crowd&) = delete;
  ~Crowd() { stop(); }

  // Starts n members that live max_seconds at most. On a failed fork the
  // members started so far are removed and err says why.
  bool start(int n, unsigned max_seconds, std::string* err) {
    sigset_t all, old;
    sigfillset(&all);
    // A signal between fork and the member's reset of its handlers would run
    // the benchmark's cleanup in the member.
    sigprocmask(SIG_BLOCK, &all, &old);
    const pid_t parent = getpid();
    for (int i = 0; i < n; ++i) {
      pid_t pid = fork();
      if (pid == 0) member(parent, pgid_, max_seconds, &old);
      if (pid < 0) {
        *err = "fork of crowd member " + std::to_string(i + 1) + "/" +
               std::to_string(n) + " failed";
        sigprocmask(SIG_SETMASK, &old, nullptr);
        stop();
        return false;
      }
      // Both sides set the group, so it is set before either goes on.
      setpgid(pid, pgid_ > 0 ? pgid_ : pid);
      if (pgid_ == 0) pgid_ = pid;
      pids_.push_back(pid);
    }
    sigprocmask(SIG_SETMASK, &old, nullptr);
    return true;
  }

  // SIGKILLs every member and reaps it.
  void stop() {
    if (pgid_ > 0) kill(-pgid_, SIGKILL);
    for (pid_t p : pids_) waitpid(p, nullptr, 0);
    pids_.clear();
    pgid_ = 0;
  }

  pid_t pgid() const { return pgid_; }
  size_t size() const { return pids_.size(); }

 private:
  [[noreturn]] static void member(pid_t parent, pid_t pgid, unsigned max_s,
                                  const sigset_t* mask) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0);  // the benchmark is already gone
    setpgid(0, pgid > 0 ? pgid : 0);
    for (int s = 1; s < NSIG; ++s) signal(s, SIG_DFL);
    int null = open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 3; ++fd) dup2(null, fd);
    close_range(3, ~0U, 0);  // the benchmark's pipes are not ours to hold
    alarm(max_s);
    sigprocmask(SIG_SETMASK, mask, nullptr);
    for (;;) pause();
  }

  std::vector<pid_t> pids_;
  pid_t pgid_ = 0;
};

}  // namespace bench
