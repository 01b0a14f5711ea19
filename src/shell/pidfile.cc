#include "pidfile.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "atomic_file.h"
#include "fd.h"
#include "startup.h"

namespace byed {

bool write_pidfile(const std::string& path, pid_t pid, std::string* err) {
  std::string dir, name;
  split_path(path, &dir, &name);
  if (write_file_atomically(dir, name, std::to_string(pid) + "\n", 0644, err)) {
    return true;
  }
  *err = "pidfile " + *err;
  return false;
}

pid_t read_pidfile(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return -1;
  struct stat st {};
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return -1;
  char buf[32];
  ssize_t n = read(fd.get(), buf, sizeof buf - 1);
  if (n <= 1 || buf[n - 1] != '\n') return -1;
  buf[n - 1] = '\0';
  char* end = nullptr;
  long v = strtol(buf, &end, 10);
  if (end == buf || *end != '\0' || v <= 0) return -1;
  return static_cast<pid_t>(v);
}

bool clear_stale_pidfile(const std::string& path, std::string* note,
                         std::string* err) {
  note->clear();
  pid_t pid = read_pidfile(path);
  bool alive = pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
  std::string comm;
  if (alive) {
    UniqueFd fd(open(("/proc/" + std::to_string(pid) + "/comm").c_str(),
                     O_RDONLY | O_CLOEXEC));
    char buf[64];
    ssize_t n = fd ? read(fd.get(), buf, sizeof buf) : -1;
    if (n > 0) comm.assign(buf, static_cast<size_t>(n));
    while (!comm.empty() && comm.back() == '\n') comm.pop_back();
  }
  PidfileVerdict v = judge_pidfile(path, pid, getpid(), alive, comm);
  if (v.remove && unlink(path.c_str()) != 0) {
    *err = "pidfile " + path + ": cannot remove stale file: " + strerror(errno);
    return false;
  }
  *note = v.note;
  return true;
}

void remove_pidfile(const std::string& path, pid_t pid) {
  if (read_pidfile(path) == pid) unlink(path.c_str());
}

}  // namespace byed
