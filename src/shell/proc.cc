#include "proc.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "fd.h"

namespace byed {

bool proc_stat(pid_t pid, ProcStat* out) {
  char path[32];
  snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  UniqueFd fd(open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  char buf[512];
  ssize_t n = read(fd.get(), buf, sizeof buf - 1);
  if (n <= 0) return false;
  buf[n] = '\0';
  // "pid (comm) S ppid pgrp ...": comm may hold spaces and parentheses, so
  // read from the last ')'.
  const char* p = strrchr(buf, ')');
  if (p == nullptr) return false;
  // " S ppid pgrp": the state, then two numbers. (strtol, not sscanf: in
  // the static build sscanf would link glibc's whole scanf for this line.)
  ++p;
  while (*p == ' ') ++p;
  if (*p == '\0') return false;
  char* end = nullptr;
  long ppid = strtol(p + 1, &end, 10);
  if (end == p + 1) return false;
  const char* q = end;
  long pgid = strtol(q, &end, 10);
  if (end == q) return false;
  out->ppid = static_cast<pid_t>(ppid);
  out->pgid = static_cast<pid_t>(pgid);
  return true;
}

bool proc_status(pid_t pid, std::string* out) {
  char path[32];
  snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(pid));
  UniqueFd fd(open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  out->clear();
  char buf[4096];
  ssize_t n;
  while ((n = read(fd.get(), buf, sizeof buf)) > 0) {
    out->append(buf, static_cast<size_t>(n));
  }
  return n == 0 && !out->empty();
}

std::vector<int> ignored_signals() {
  std::vector<int> out;
  UniqueFd fd(open("/proc/self/status", O_RDONLY | O_CLOEXEC));
  char buf[4096];
  ssize_t n = fd ? read(fd.get(), buf, sizeof buf - 1) : -1;
  const char* line = nullptr;
  if (n > 0) {
    buf[n] = '\0';
    line = strstr(buf, "\nSigIgn:\t");
  }
  if (line != nullptr) {
    unsigned long long mask = strtoull(line + 9, nullptr, 16);
    for (int sig = 1; sig <= 64 && sig < NSIG; ++sig) {
      if (mask & (1ULL << (sig - 1))) out.push_back(sig);
    }
    return out;
  }
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction sa {};
    if (sig != SIGKILL && sig != SIGSTOP && sigaction(sig, nullptr, &sa) == 0 &&
        sa.sa_handler == SIG_IGN) {
      out.push_back(sig);
    }
  }
  return out;
}

// Every child byed has was forked by its main thread or adopted by the
// process; the kernel lists both in the main thread's children file.
// Reading it costs O(children), whatever the host runs.
OwnChildren::OwnChildren() {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/children",
           static_cast<int>(getpid()));
  fd_.reset(open(path, O_RDONLY | O_CLOEXEC));
}

namespace {
constexpr size_t kMaxRecord = 16;  // "4194304 ": pid_max is 2^22
}  // namespace

std::vector<pid_t> OwnChildren::list() {
  if (!fd_) return children_of(getpid());
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = pread(fd_.get(), buf, sizeof buf,
                    static_cast<off_t>(text.size()))) > 0) {
    text.append(buf, static_cast<size_t>(n));
    // The kernel fills a read with whole records ("PID "), at most a page:
    // a read with room for another record left has them all, one that
    // stopped short of the end of the page may not.
    if (static_cast<size_t>(n) + kMaxRecord < sizeof buf) break;
  }
  std::vector<pid_t> out;
  const char* p = text.c_str();
  while (*p != '\0') {
    char* end = nullptr;
    long pid = strtol(p, &end, 10);
    if (end == p) break;
    if (pid > 0) out.push_back(static_cast<pid_t>(pid));
    p = end;
  }
  return out;
}

std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long pid = strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || pid <= 0) continue;
    ProcStat st;
    if (proc_stat(static_cast<pid_t>(pid), &st) && st.ppid == parent) {
      out.push_back(static_cast<pid_t>(pid));
    }
  }
  closedir(d);
  return out;
}

}  // namespace byed
