// reaper.cc — waitpid for every child byed has (generations, probes,
// adopted orphans) and the watch on generations' process groups: each exit
// goes to the core with what only the kernel knows (is its group alive, are
// children left); what it means is the core's.
#include <signal.h>
#include <sys/wait.h>

#include <cerrno>

#include "loop.h"

namespace byed {

void Runtime::reap() {
  while (true) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG | WUNTRACED | WCONTINUED);
    if (pid < 0 && errno == EINTR) continue;
    if (pid <= 0) break;  // 0: none exited; -1/ECHILD: no children left
    if (WIFCONTINUED(status)) {
      dispatch(ChildContinued{pid});
      continue;
    }
    if (WIFSTOPPED(status)) {
      dispatch(ChildStopped{pid, WSTOPSIG(status)});
      continue;
    }
    orphans_.forget(pid);
    probes_->reaped(pid, status);  // a probe's result, before it is gone
    const bool leader = drain_generation(pid);
    bool group_alive = leader && (::kill(-pid, 0) == 0 || errno == EPERM);
    siginfo_t si{};
    bool children_left =
        waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0;
    dispatch(ChildExited{pid, status, group_alive, children_left,
                         terminal_pgid_ == pid});
  }
  if (!watched_groups_.empty()) check_groups();
}

// GroupEmpty for each watched group that has no member left. kill(-pgid, 0)
// fails with ESRCH only then (EPERM: members byed may not signal).
void Runtime::check_groups() {
  std::vector<std::pair<int, int>> empty;
  for (auto it = watched_groups_.begin(); it != watched_groups_.end();) {
    if (::kill(-it->first, 0) != 0 && errno == ESRCH) {
      empty.push_back(it->second);
      it = watched_groups_.erase(it);
    } else {
      ++it;
    }
  }
  // Dispatched once the map is no longer walked: the core's actions may
  // watch another group.
  for (auto [gen, worker] : empty) dispatch(GroupEmpty{gen, worker});
  // Members that are not byed's children (they left for another parent, or
  // byed is no subreaper) end without a SIGCHLD to byed: look again soon.
  if (watched_groups_.empty()) {
    group_timer_.reset();
  } else if (!group_timer_) {
    group_timer_ = std::make_unique<UvHandle<uv_timer_t>>();
    group_timer_->init(uv_timer_init, &loop_, this);  // cannot fail
    int rc = uv_timer_start(
        group_timer_->get(),
        [](uv_timer_t* h) { static_cast<Runtime*>(h->data)->check_groups(); },
        100, 100);
    if (rc != 0) {
      log(LogLevel::kError, "cannot watch process groups",
          {{"error", uv_strerror(rc)}});
      group_timer_.reset();
    }
  }
}

}  // namespace byed
