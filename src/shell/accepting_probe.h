// accepting_probe.h — whether a generation waits for connections on the held
// sockets: the mechanism behind `--ready accepting`.
//
// Looks at the generation's processes only: its leader, the leader's
// descendants (/proc/PID/task/TID/children, recursively), and byed's own
// children in the leader's process group (members reparented to byed as
// subreaper) with theirs. Of each: its fds (/proc/PID/fd), the targets of its
// epoll fds (/proc/PID/fdinfo/FD), what each thread is blocked in
// (/proc/PID/task/TID/syscall) and, for poll and select, the set it waits on,
// read from its memory (process_vm_readv, else /proc/PID/mem). What counts is
// waiting.h's rule. The cost is O(processes, threads and fds of the
// generation); all of /proc is never scanned. A process that vanishes
// meanwhile is simply not there.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "waiting.h"

namespace byed {

struct AcceptingResult {
  // One per inode asked about, in the same order. how == kNone: not seen.
  std::vector<Waiter> sockets;
  // Set only when some socket was not seen and the probe could not look
  // everywhere it had to (no permission, no /proc, a kernel without the
  // files): why, in one line. Empty: the answer is known.
  std::string unknown;
  int processes = 0;  // members of the generation looked at
  bool all_seen() const;
};

// The inode of a socket byed holds, as /proc/PID/fd shows it
// ("socket:[INODE]"). False with err ("fd 3: not a socket") otherwise.
bool held_socket_inode(int fd, uint64_t* ino, std::string* err);

// One per caller: it keeps its buffers from one probe to the next.
class AcceptingProbe {
 public:
  // Looks once. leader: the generation's leader pid, which is also its
  // process group id (the leader may be gone). inodes: the held sockets'.
  void probe(int leader, const std::vector<uint64_t>& inodes,
             AcceptingResult* out);

 private:
  void check_kernel();
  void look_at(int pid, const std::vector<uint64_t>& inodes,
               AcceptingResult* out);
  void scan_threads(int pid);
  bool read_set(int pid, const char* syscall_path, const SyscallLine& line,
                const BlockedWait& wait, std::vector<int>* fds);
  // len bytes at addr of pid's memory into memory_; false with errno set
  // (EFAULT: not all of it is mapped).
  bool read_memory(int pid, uint64_t addr, size_t len);
  void children_of(int pid, std::vector<int>* out);
  template <typename F>
  void for_each_task_file(int pid, const char* leaf, F&& on_text);
  void uncertain(int err, const char* what);

  bool checked_ = false;
  bool have_proc_ = true;
  bool have_children_ = true;
  bool have_syscall_ = true;
  bool use_vm_readv_ = true;  // else /proc/PID/mem
  std::string uncertain_;
  std::vector<int> members_, numbers_, tids_, fds_, epoll_fds_, read_fds_;
  std::vector<char> dents_;
  std::vector<unsigned char> memory_;
  std::string text_;
  ProcessWaits waits_;
};

}  // namespace byed
