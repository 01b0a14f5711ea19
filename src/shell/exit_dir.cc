#include "exit_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "atomic_file.h"
#include "sys_error.h"

namespace byed {
namespace {

constexpr uint32_t kWatchMask =
    IN_CREATE | IN_MOVED_TO | IN_ONLYDIR | IN_DELETE_SELF | IN_MOVE_SELF;

}  // namespace

bool is_exit_trigger(const std::string& entry) {
  return !entry.empty() && entry[0] != '.';  // not ., .., or temp names
}

bool write_exit_marker(const std::string& dir, const ExitRecord& r,
                       std::string* error, std::string* empty_because) {
  if (write_file_atomically(dir, marker_name(r.name), exit_record_json(r), 0644,
                            error)) {
    return true;
  }
  *error = "write marker " + *error;
  // An empty file needs an inode, not a data block: it can still be made.
  // Never through a planted symlink, never over a file already there.
  const std::string path = dir + "/" + marker_name(r.name);
  UniqueFd fd(open(path.c_str(),
                   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd) {
    *error += "; empty marker: " + std::string(strerror(errno));
    return false;
  }
  *empty_because = *error;
  error->clear();
  return true;
}

ExitDirWatcher::ExitDirWatcher(uv_loop_t* loop, std::string dir,
                               std::string own_marker, EntryFn on_entry,
                               NoteFn on_note)
    : loop_(loop),
      dir_(std::move(dir)),
      own_marker_(std::move(own_marker)),
      on_entry_(std::move(on_entry)),
      on_note_(std::move(on_note)) {}

bool ExitDirWatcher::start(std::string* error) {
  struct stat st {};
  if (stat(dir_.c_str(), &st) != 0) {
    *error = sys_error("exit dir " + dir_);
    return false;
  }
  if (!S_ISDIR(st.st_mode)) {
    *error = "exit dir " + dir_ + ": not a directory";
    return false;
  }

  inotify_.reset(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify_) {
    start_polling(sys_error("inotify_init1"));
  } else if (inotify_add_watch(inotify_.get(), dir_.c_str(), kWatchMask) < 0) {
    int e = errno;
    inotify_.reset();
    if (e != ENOSPC && e != EMFILE && e != ENOMEM) {
      // Not a limit of the machine but of this directory (permissions):
      // byed would never see an entry. An error, not a silent poll.
      *error = sys_error("exit dir " + dir_ + ": cannot watch it", e);
      return false;
    }
    start_polling(sys_error("inotify_add_watch " + dir_, e));
  } else if (int rc = poll_.init(uv_poll_init, loop_, this, inotify_.get());
             rc != 0) {
    inotify_.reset();
    start_polling(std::string("uv_poll_init: ") + uv_strerror(rc));
  } else if (int rc = uv_poll_start(
                 poll_.get(), UV_READABLE,
                 [](uv_poll_t* h, int, int) {
                   static_cast<ExitDirWatcher*>(h->data)->on_readable();
                 });
             rc != 0) {
    poll_.reset();
    inotify_.reset();
    start_polling(std::string("uv_poll_start: ") + uv_strerror(rc));
  }
  // After the watch: an entry created in between is seen twice at worst,
  // never missed.
  if (!scan(true)) {
    *error = sys_error("exit dir " + dir_ + ": cannot read it");
    return false;
  }
  return true;
}

void ExitDirWatcher::start_polling(const std::string& why) {
  on_note_(false, "no inotify watch for the exit dir (" + why +
                      "): polling it every 100ms instead");
  timer_.init(uv_timer_init, loop_, this);  // cannot fail
  uv_timer_start(
      timer_.get(),
      [](uv_timer_t* h) { static_cast<ExitDirWatcher*>(h->data)->scan(false); },
      100, 100);
}

// This member's own marker is a trigger like any other entry — a peer that
// runs the same program has the same name — except the one that was there
// at start: the leftover of this member's earlier run (a container
// restarted inside its pod), ignored for as long as it is that same file.
bool ExitDirWatcher::scan(bool initial) {
  DIR* d = opendir(dir_.c_str());
  if (d == nullptr) {
    if (!gone_ && !initial) {
      gone_ = true;
      on_note_(true, sys_error("exit dir " + dir_ + " cannot be read") +
                         "; the child keeps running");
    }
    return false;
  }
  gone_ = false;
  std::vector<std::string> found;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (!is_exit_trigger(name)) continue;
    if (name == own_marker_) {
      struct stat st {};
      if (fstatat(dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        continue;
      }
      if (initial) {
        leftover_ino_ = st.st_ino;
        on_note_(false, "exit dir " + dir_ + " holds " + name +
                            " from an earlier run of this member: ignored "
                            "(a new one appearing stops the child)");
        continue;
      }
      if (st.st_ino == leftover_ino_) continue;
    }
    if (reported_.insert(name).second) found.push_back(name);
  }
  closedir(d);
  for (const auto& name : found) on_entry_(name);
  return true;
}

void ExitDirWatcher::on_readable() {
  alignas(inotify_event) char buf[16 * 1024];
  while (true) {
    ssize_t n = ::read(inotify_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    bool rescan = false;
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + ev->len;
      if (ev->mask & IN_Q_OVERFLOW) {
        rescan = true;
      } else if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
        if (!gone_) {
          gone_ = true;
          on_note_(true, "exit dir " + dir_ +
                             " was removed or moved away: no longer watched; "
                             "the child keeps running");
        }
      } else if (gone_) {
        // Moved away: what is created there now is not in EXIT_DIR, as
        // the log line said.
      } else if (ev->len > 0) {
        // Created or moved in now: even with this member's own name, it is
        // new, so a peer's.
        std::string name = ev->name;
        if (is_exit_trigger(name) && reported_.insert(name).second) {
          on_entry_(name);
        }
      }
    }
    if (rescan) {
      on_note_(false, "inotify queue overflowed: rescanning the exit dir");
      scan(false);
    }
  }
}

}  // namespace byed
