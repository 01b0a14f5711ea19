// exit_dir.h — the EXIT_DIR protocol (exitdir, moved out of the program).
//
// Follower side: ExitDirWatcher adds an inotify watch on the directory first
// and then scans it, so no entry can slip between the two; every entry
// present or appearing later (created, moved in, mkdir) is reported, except
// dot-prefixed temp names and this member's own marker when it was already
// there at start (its own leftover). A queue overflow rescans. A directory
// byed cannot read or watch is an error; only when the machine's inotify
// limits are reached does it poll every 100 ms, and says so.
//
// Leader side: write_exit_marker creates NAME.exit atomically — its JSON
// (built by the core, markers.h) is complete before the name becomes
// visible (atomic_file.h).
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <ctime>
#include <functional>
#include <optional>
#include <set>
#include <string>

#include "fd.h"
#include "markers.h"
#include "uv_handle.h"

namespace byed {

// Whether a directory entry tells a member to stop: anything but ., ..
// and dot-prefixed temp names. (This member's own marker left over from an
// earlier run is the watcher's business.)
bool is_exit_trigger(const std::string& entry);

// Fails like "write marker /d/x.exit: No space left on device". Where the
// JSON marker cannot be written (a full disk) an empty NAME.exit — what the
// Go exitdir leader writes — still stops the followers: then it returns
// true with *empty_because saying why the JSON one failed.
bool write_exit_marker(const std::string& dir, const ExitRecord& r,
                       std::string* err, std::string* empty_because);

class ExitDirWatcher {
 public:
  using EntryFn = std::function<void(const std::string& entry)>;
  using NoteFn = std::function<void(bool error, const std::string& message)>;

  ExitDirWatcher(uv_loop_t* loop, std::string dir, std::string own_marker,
                 EntryFn on_entry, NoteFn on_note);

  // Watch, then scan. Fails (and watches nothing) when the directory is
  // missing or not a directory.
  bool start(std::string* err);

 private:
  bool scan(bool initial);
  void on_readable();
  void start_polling(const std::string& why);

  uv_loop_t* loop_;
  std::string dir_;
  std::string own_marker_;
  EntryFn on_entry_;
  NoteFn on_note_;
  UniqueFd inotify_;
  UvHandle<uv_poll_t> poll_;
  UvHandle<uv_timer_t> timer_;  // fallback when inotify is unavailable
  std::set<std::string> reported_;
  ino_t leftover_ino_ = 0;  // own marker present at start
  bool gone_ = false;
};

}  // namespace byed
