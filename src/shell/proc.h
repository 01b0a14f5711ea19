// proc.h — what /proc says about other processes (and byed itself).
//
// The shell asks the kernel about processes byed did not start itself: the
// parent and process group of a notify sender, the children byed adopted.
// Each answer is a snapshot; a process may be gone a moment later.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "fd.h"

namespace byed {

struct ProcStat {
  pid_t ppid = 0;
  pid_t pgid = 0;
};

// False when the process is gone (or /proc is not mounted).
bool proc_stat(pid_t pid, ProcStat* out);

// /proc/PID/status, whole. False when the process is gone.
bool proc_status(pid_t pid, std::string* out);

// The signals this process ignores (SIG_IGN) now: /proc/self/status's
// SigIgn in one read, else one sigaction() query per signal.
std::vector<int> ignored_signals();

// byed's own children now (those it started and those it adopted), from
// /proc/self/task/PID/children: O(children), never a walk of all of /proc
// (that only where the kernel lacks the file). The file stays open: each
// look is one pread (the kernel writes the list anew at offset 0), not an
// open, two reads and a close on a stop's path.
class OwnChildren {
 public:
  OwnChildren();  // opens the file (at start-up, not on a stop's path)
  std::vector<pid_t> list();

 private:
  UniqueFd fd_;  // none: a kernel without the file, a walk of /proc
};

// The processes whose parent is `parent` now: a walk of all of /proc.
std::vector<pid_t> children_of(pid_t parent);

}  // namespace byed
