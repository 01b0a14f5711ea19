#include "pidfile.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "fd.h"

namespace byed {

std::string write_pidfile(const std::string& path, pid_t pid) {
  std::string dir = ".";
  auto slash = path.find_last_of('/');
  if (slash != std::string::npos)
    dir = slash == 0 ? "/" : path.substr(0, slash);
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  std::string body = std::to_string(pid) + "\n";
  UniqueFd fd(open(tmp.c_str(),
                   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd) return "pidfile " + tmp + ": " + strerror(errno);
  int e = 0;
  if (fchmod(fd.get(), 0644) != 0 || !write_all(fd.get(), body) ||
      fsync(fd.get()) != 0) {
    e = errno ? errno : EIO;
  }
  fd.reset();
  if (e == 0 && rename(tmp.c_str(), path.c_str()) != 0) e = errno;
  if (e != 0) {
    unlink(tmp.c_str());
    return "pidfile " + path + ": " + strerror(e);
  }
  return "";
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

std::string clear_stale_pidfile(const std::string& path) {
  pid_t pid = read_pidfile(path);
  if (pid <= 0 || pid == getpid()) return "";
  bool alive = kill(pid, 0) == 0 || errno == EPERM;
  std::string comm;
  if (alive) {
    UniqueFd fd(open(("/proc/" + std::to_string(pid) + "/comm").c_str(),
                     O_RDONLY | O_CLOEXEC));
    char buf[64];
    ssize_t n = fd ? read(fd.get(), buf, sizeof buf) : -1;
    if (n > 0) comm.assign(buf, static_cast<size_t>(n));
    while (!comm.empty() && comm.back() == '\n') comm.pop_back();
    if (comm == "byed") {
      return "pidfile " + path + " names a running byed (pid " +
             std::to_string(pid) + "); it is replaced once this one is ready";
    }
  }
  if (unlink(path.c_str()) != 0) {
    return "pidfile " + path + ": cannot remove stale file: " + strerror(errno);
  }
  return "removed stale pidfile " + path + " (pid " + std::to_string(pid) +
         (alive ? " is now " + (comm.empty() ? "another process" : comm)
                : " is gone") +
         ")";
}

void remove_pidfile(const std::string& path, pid_t pid) {
  if (read_pidfile(path) == pid) unlink(path.c_str());
}

}  // namespace byed
