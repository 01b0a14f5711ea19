#include "atomic_file.h"

#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "fd.h"

namespace byed {
namespace {

// ".NAME.<16 hex digits>": hidden from EXIT_DIR followers, and not
// predictable by another user who shares the directory.
std::string temp_name(const std::string& name) {
  unsigned char rnd[8] = {};
  if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != sizeof rnd) {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned long long mix = static_cast<unsigned long long>(ts.tv_nsec) ^
                             (static_cast<unsigned long long>(getpid()) << 32);
    for (auto& b : rnd) {
      b = static_cast<unsigned char>(mix);
      mix = mix * 6364136223846793005ULL + 1442695040888963407ULL;
    }
  }
  char hex[17];
  for (int i = 0; i < 8; ++i) snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
  return "." + name + "." + hex;
}

// The helpers below fail as the syscalls they wrap do: false, errno set
// (its value picks the fallback); write_file_atomically turns it into the
// message.

// Content, mode and fsync.
bool fill(int fd, std::string_view body, mode_t mode) {
  errno = 0;
  if (fchmod(fd, mode) == 0 && write_all(fd, body) && fsync(fd) == 0) {
    return true;
  }
  if (errno == 0) errno = EIO;
  return false;
}

// Links an O_TMPFILE fd in as `name`. AT_EMPTY_PATH needs
// CAP_DAC_READ_SEARCH; /proc/self/fd works without it.
bool link_in(int fd, int dirfd, const std::string& name) {
  if (linkat(fd, "", dirfd, name.c_str(), AT_EMPTY_PATH) == 0) return true;
  if (errno == EEXIST) return false;
  std::string proc = "/proc/self/fd/" + std::to_string(fd);
  return linkat(AT_FDCWD, proc.c_str(), dirfd, name.c_str(),
                AT_SYMLINK_FOLLOW) == 0;
}

// A fresh temp file in dirfd that nobody else can have created first.
int open_temp(int dirfd, const std::string& name, mode_t mode,
              std::string* tmp) {
  for (int tries = 0; tries < 16; ++tries) {
    *tmp = temp_name(name);
    int fd = openat(dirfd, tmp->c_str(),
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  errno = EEXIST;
  return -1;
}

bool write_atomically(int dirfd, const std::string& name, std::string_view body,
                      mode_t mode) {
  UniqueFd fd(openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, mode));
  if (fd) {
    if (!fill(fd.get(), body, mode)) return false;
    if (link_in(fd.get(), dirfd, name)) return true;
    if (errno == EEXIST) {
      // Replace what is there in one rename: link under a temp name first.
      for (int tries = 0; tries < 16; ++tries) {
        std::string tmp = temp_name(name);
        if (!link_in(fd.get(), dirfd, tmp)) {
          if (errno == EEXIST) continue;
          break;
        }
        if (renameat(dirfd, tmp.c_str(), dirfd, name.c_str()) == 0) {
          return true;
        }
        int e = errno;
        unlinkat(dirfd, tmp.c_str(), 0);
        errno = e;
        return false;
      }
    }
    if (errno != EPERM && errno != EACCES && errno != ENOENT &&
        errno != EXDEV) {
      return false;
    }
  } else if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL &&
             errno != ENOENT) {
    return false;
  }
  // No O_TMPFILE here (or it cannot be linked): named temp file + rename.
  std::string tmp;
  fd.reset(open_temp(dirfd, name, mode, &tmp));
  if (!fd) return false;
  if (fill(fd.get(), body, mode) &&
      renameat(dirfd, tmp.c_str(), dirfd, name.c_str()) == 0) {
    return true;
  }
  int e = errno;
  unlinkat(dirfd, tmp.c_str(), 0);
  errno = e;
  return false;
}

}  // namespace

void split_path(const std::string& path, std::string* dir, std::string* name) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) {
    *dir = ".";
    *name = path;
  } else {
    *dir = slash == 0 ? "/" : path.substr(0, slash);
    *name = path.substr(slash + 1);
  }
}

bool write_file_atomically(const std::string& dir, const std::string& name,
                           std::string_view body, mode_t mode,
                           std::string* err) {
  UniqueFd dirfd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dirfd && write_atomically(dirfd.get(), name, body, mode)) {
    fsync(dirfd.get());  // the new name, too, survives a crash
    return true;
  }
  *err = dir + "/" + name + ": " + strerror(errno);
  return false;
}

}  // namespace byed
