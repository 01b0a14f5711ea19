#include "accepting_probe.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "fd.h"
#include "proc.h"

namespace byed {

namespace {

// The most pollfd entries read from one blocked poll: a listening socket is
// registered early, and the kernel refuses more than RLIMIT_NOFILE anyway.
constexpr size_t kMaxPollEntries = 1 << 16;
// Bytes read from a process's memory at once.
constexpr size_t kMemoryChunk = 4096;

// The process or thread is no longer there.
bool gone(int err) { return err == ENOENT || err == ESRCH; }

// The helpers below fail as the syscalls they wrap do: false with errno
// set, whose value tells a process gone from an answer that is uncertain.

// The whole of the file at path, in *buf (its capacity is kept for the next
// read).
bool read_text(const char* path, std::string* buf) {
  buf->clear();
  UniqueFd fd(open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  buf->resize(std::max<size_t>(buf->capacity(), 4096));
  size_t len = 0;
  for (;;) {
    if (len == buf->size()) buf->resize(buf->size() * 2);
    ssize_t n = read(fd.get(), &(*buf)[len], buf->size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      buf->clear();
      errno = err;
      return false;
    }
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  buf->resize(len);
  return true;
}

// The numeric entries of an open directory, in *out.
bool list_numbers(int dir, std::vector<char>* dents, std::vector<int>* out) {
  out->clear();
  if (dents->size() < 8192) dents->resize(8192);
  for (;;) {
    ssize_t n = getdents64(dir, dents->data(), dents->size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    for (ssize_t off = 0; off < n;) {
      const auto* d = reinterpret_cast<const dirent64*>(dents->data() + off);
      off += d->d_reclen;
      int v = 0;
      const char* c = d->d_name;
      for (; *c >= '0' && *c <= '9' && v < 100000000; ++c)
        v = v * 10 + (*c - '0');
      if (*c == '\0' && c != d->d_name) out->push_back(v);
    }
  }
}

// Numbers separated by spaces ("123 456 "), appended to out.
void parse_numbers(const std::string& text, std::vector<int>* out) {
  int v = 0;
  bool in = false;
  for (char c : text) {
    if (c >= '0' && c <= '9' && v < 100000000) {
      v = v * 10 + (c - '0');
      in = true;
    } else {
      if (in) out->push_back(v);
      v = 0;
      in = false;
    }
  }
  if (in) out->push_back(v);
}

bool contains(const std::vector<int>& v, int x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

bool AcceptingResult::all_seen() const {
  for (const Waiter& w : sockets) {
    if (w.how == WaitHow::kNone) return false;
  }
  return true;
}

bool held_socket_inode(int fd, uint64_t* ino, std::string* err) {
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    *err = "fd " + std::to_string(fd) + ": " + strerror(errno);
    return false;
  }
  if (!S_ISSOCK(st.st_mode)) {
    *err = "fd " + std::to_string(fd) + ": not a socket";
    return false;
  }
  *ino = st.st_ino;
  return true;
}

bool AcceptingProbe::read_memory(int pid, uint64_t addr, size_t len) {
  auto whole = [len](ssize_t n) {
    if (static_cast<size_t>(n) == len) return true;
    errno = EFAULT;
    return false;
  };
  if (memory_.size() < len) memory_.resize(len);
  if (use_vm_readv_) {
    iovec local{memory_.data(), len};
    iovec remote{reinterpret_cast<void*>(static_cast<uintptr_t>(addr)), len};
    ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n >= 0) return whole(n);
    // Refused by a seccomp filter (container engines' profiles may) or not
    // built into the kernel: /proc/PID/mem reads the same memory under the
    // same permission check.
    if (errno != EPERM && errno != ENOSYS) return false;
    if (errno == ENOSYS) use_vm_readv_ = false;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/mem", pid);
  UniqueFd mem(open(path, O_RDONLY | O_CLOEXEC));
  if (!mem) return false;
  ssize_t n = pread(mem.get(), memory_.data(), len, static_cast<off_t>(addr));
  if (n < 0) {
    if (errno == EIO) errno = EFAULT;
    return false;
  }
  // It worked where process_vm_readv was refused: a filter, not permission.
  use_vm_readv_ = false;
  return whole(n);
}

void AcceptingProbe::check_kernel() {
  checked_ = true;
  if (access("/proc/self/task", F_OK) != 0) {
    have_proc_ = false;
    return;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/children",
           static_cast<int>(gettid()));
  have_children_ = !(access(path, F_OK) != 0 && errno == ENOENT);
  have_syscall_ = !(access("/proc/self/syscall", F_OK) != 0 && errno == ENOENT);
}

void AcceptingProbe::uncertain(int err, const char* what) {
  if (uncertain_.empty()) uncertain_ = std::string(what) + ": " + strerror(err);
}

void AcceptingProbe::probe(int leader, const std::vector<uint64_t>& inodes,
                           AcceptingResult* out) {
  out->sockets.assign(inodes.size(), Waiter{});
  out->unknown.clear();
  out->processes = 0;
  uncertain_.clear();
  if (!checked_) check_kernel();
  if (!have_proc_) {
    out->unknown = "/proc is not mounted";
    return;
  }
  if (inodes.empty()) return;
  if (!have_children_) {
    uncertain_ =
        "this kernel has no /proc/PID/task/TID/children: only the leader "
        "was looked at";
  } else if (!have_syscall_) {
    uncertain_ =
        "this kernel has no /proc/PID/task/TID/syscall: a blocked accept, "
        "poll or select is not seen";
  }
  members_.clear();
  // Once byed has reaped the leader its pid may name another process; a
  // group leader it is only while it is this one (the kernel does not reuse
  // a pid that is still a process group's id).
  ProcStat st;
  if (proc_stat(leader, &st) && st.pgid == leader) members_.push_back(leader);
  bool looked_at_adopted = !have_children_;
  for (size_t i = 0;; ++i) {
    if (i == members_.size()) {
      if (looked_at_adopted) break;
      looked_at_adopted = true;
      // byed's own children in the generation's group: members that were
      // reparented to byed, and then theirs.
      children_of(0, &numbers_);
      for (int pid : numbers_) {
        if (!contains(members_, pid) && proc_stat(pid, &st) &&
            st.pgid == leader) {
          members_.push_back(pid);
        }
      }
      if (i == members_.size()) break;
    }
    int pid = members_[i];
    look_at(pid, inodes, out);
    if (out->all_seen()) return;
    if (have_children_) {
      children_of(pid, &numbers_);
      for (int child : numbers_) {
        if (!contains(members_, child)) members_.push_back(child);
      }
    }
  }
  out->unknown = uncertain_;
}

// For each thread of pid (0: byed itself), reads /proc/PID/task/TID/LEAF
// into text_ and calls on_text with its path. A process or thread gone
// meanwhile is skipped; anything else unreadable makes the answer uncertain.
template <typename F>
void AcceptingProbe::for_each_task_file(int pid, const char* leaf,
                                        F&& on_text) {
  char path[64];
  if (pid == 0) {
    snprintf(path, sizeof path, "/proc/self/task");
  } else {
    snprintf(path, sizeof path, "/proc/%d/task", pid);
  }
  UniqueFd dir(open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir || !list_numbers(dir.get(), &dents_, &tids_)) {
    if (!gone(errno)) uncertain(errno, path);
    return;
  }
  for (int tid : tids_) {
    char file[96];
    snprintf(file, sizeof file, "%s/%d/%s", path, tid, leaf);
    if (!read_text(file, &text_)) {
      if (!gone(errno)) uncertain(errno, file);
      continue;
    }
    on_text(file);
  }
}

void AcceptingProbe::children_of(int pid, std::vector<int>* out) {
  out->clear();
  for_each_task_file(pid, "children",
                     [&](const char*) { parse_numbers(text_, out); });
}

void AcceptingProbe::look_at(int pid, const std::vector<uint64_t>& inodes,
                             AcceptingResult* out) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd", pid);
  UniqueFd dir(open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir || !list_numbers(dir.get(), &dents_, &fds_)) {
    if (!gone(errno)) uncertain(errno, path);
    return;
  }
  ++out->processes;
  waits_.clear();
  epoll_fds_.clear();
  for (int fd : fds_) {
    char name[16], target[64];
    snprintf(name, sizeof name, "%d", fd);
    ssize_t n = readlinkat(dir.get(), name, target, sizeof target);
    if (n < 0) {
      if (!gone(errno)) {
        char link[80];
        snprintf(link, sizeof link, "%s/%d", path, fd);
        uncertain(errno, link);
      }
      continue;
    }
    // Longer than any socket or epoll link: a path.
    if (static_cast<size_t>(n) == sizeof target) continue;
    std::string_view t(target, static_cast<size_t>(n));
    if (auto ino = parse_socket_link(t)) {
      if (std::find(inodes.begin(), inodes.end(), *ino) != inodes.end()) {
        waits_.sockets.emplace_back(fd, *ino);
      }
    } else if (is_epoll_link(t)) {
      epoll_fds_.push_back(fd);
    }
  }
  for (int epfd : epoll_fds_) {
    char info[64];
    snprintf(info, sizeof info, "/proc/%d/fdinfo/%d", pid, epfd);
    if (!read_text(info, &text_)) {
      if (!gone(errno)) uncertain(errno, info);
      continue;
    }
    parse_epoll_fdinfo(text_, &waits_.epoll_targets);
  }
  match_waits(waits_, pid, inodes, &out->sockets);
  // A blocked call names an fd: without one of a held socket there is
  // nothing more to see.
  if (out->all_seen() || waits_.sockets.empty() || !have_syscall_) return;
  scan_threads(pid);
  match_waits(waits_, pid, inodes, &out->sockets);
}

void AcceptingProbe::scan_threads(int pid) {
  auto held_fd = [&](int fd) {
    for (const auto& s : waits_.sockets) {
      if (s.first == fd) return true;
    }
    return false;
  };
  for_each_task_file(pid, "syscall", [&](const char* syscall_path) {
    auto line = parse_syscall_line(text_);
    if (!line) return;
    BlockedWait w = classify_blocked(*line);
    if (w.how == WaitHow::kAccept) {
      if (held_fd(w.fd)) waits_.blocked.emplace_back(w.fd, w.how);
    } else if (w.how == WaitHow::kPoll || w.how == WaitHow::kSelect) {
      if (!read_set(pid, syscall_path, *line, w, &read_fds_)) return;
      for (int fd : read_fds_) {
        if (held_fd(fd)) waits_.blocked.emplace_back(fd, w.how);
      }
    }
  });
}

bool AcceptingProbe::read_set(int pid, const char* syscall_path,
                              const SyscallLine& line, const BlockedWait& w,
                              std::vector<int>* fds) {
  fds->clear();
  if (w.addr == 0 || w.count == 0) return false;
  bool ok = true;
  if (w.how == WaitHow::kPoll) {
    size_t total =
        std::min<uint64_t>(w.count, kMaxPollEntries) * sizeof(pollfd);
    for (size_t off = 0; off < total && ok; off += kMemoryChunk) {
      size_t len = std::min(kMemoryChunk, total - off);
      ok = read_memory(pid, w.addr + off, len);
      if (ok) poll_read_fds(memory_.data(), len, fds);
    }
  } else {
    // Only the fds up to the highest held one matter.
    int max_fd = 0;
    for (const auto& s : waits_.sockets) max_fd = std::max(max_fd, s.first);
    uint64_t nfds =
        std::min<uint64_t>(w.count, static_cast<uint64_t>(max_fd) + 1);
    size_t len = fdset_bytes(nfds);
    ok = read_memory(pid, w.addr, len);
    if (ok) fdset_read_fds(memory_.data(), len, nfds, fds);
  }
  if (!ok) {
    const int err = errno;
    // EFAULT: the call returned and its memory moved on; look again later.
    if (err != EFAULT && !gone(err)) {
      char what[64];
      snprintf(what, sizeof what, "pid %d's memory", pid);
      uncertain(err, what);
    }
    return false;
  }
  // The set counts only if the thread was in the same call all along.
  auto now = read_text(syscall_path, &text_) ? parse_syscall_line(text_)
                                             : std::nullopt;
  return now && *now == line;
}

}  // namespace byed
