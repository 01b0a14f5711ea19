// waiting.h — how a process waits for connections, read from what /proc says.
//
// Pure: parses the kernel's text (an epoll fd's /proc/PID/fdinfo, a thread's
// /proc/PID/task/TID/syscall, a /proc/PID/fd link), classifies a blocked
// system call for the architecture byed is built for, reads a pollfd array or
// an fd_set copied out of a process, and decides which held sockets a process
// waits on (match_waits). accepting_probe.cc gathers the text and the bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace byed {

// How a process waits for connections on a socket. kNone: it does not.
enum class WaitHow { kNone, kEpoll, kAccept, kPoll, kSelect };

// "epoll", "accept", "poll", "select"; "none".
const char* wait_how_name(WaitHow how);

// One "tfd:" line of an epoll fd's fdinfo.
struct EpollTarget {
  int fd = -1;           // the target's fd in the process that added it
  uint32_t events = 0;   // the events it waits for (EPOLLIN, ...)
  uint64_t ino = 0;      // the target file's inode, when has_ino
  bool has_ino = false;  // older kernels print no "ino:"
};

// Appends one target per "tfd:" line of an epoll fd's fdinfo text
// ("tfd:        3 events:       19 data: ...  pos:0 ino:4b98 sdev:9").
// Other lines, and tfd lines it cannot read, are skipped.
void parse_epoll_fdinfo(std::string_view text, std::vector<EpollTarget>* out);

// A thread's /proc/PID/task/TID/syscall.
struct SyscallLine {
  enum class State {
    kRunning,    // "running": on a CPU, not blocked
    kNoSyscall,  // "-1 SP PC": blocked, but not in a system call
    kBlocked,    // "NR A1 .. A6 SP PC": blocked in system call NR
  };
  State state = State::kRunning;
  long nr = -1;
  uint64_t args[6] = {};
  uint64_t sp = 0;
  uint64_t pc = 0;
  bool operator==(const SyscallLine& o) const;
  bool operator!=(const SyscallLine& o) const { return !(*this == o); }
};

// Numbers as the kernel prints them: "0x"-prefixed hex, else decimal.
// nullopt for anything else.
std::optional<SyscallLine> parse_syscall_line(std::string_view text);

// What a blocked call waits on, for this architecture's system calls.
struct BlockedWait {
  WaitHow how = WaitHow::kNone;
  int fd = -1;         // accept, accept4: the listening fd; epoll_*: the epfd
  uint64_t addr = 0;   // poll, ppoll: the pollfd array; select, pselect6: the
                       // read fd_set (0: none)
  uint64_t count = 0;  // poll, ppoll: entries; select, pselect6: nfds
};

// accept/accept4 -> kAccept, poll/ppoll -> kPoll, select/pselect6 ->
// kSelect, epoll_wait/epoll_pwait/epoll_pwait2 -> kEpoll; anything else, and
// a thread not blocked in a system call, -> kNone. Uses <sys/syscall.h>'s
// numbers: aarch64 has no poll, select or epoll_wait, only ppoll, pselect6
// and epoll_pwait[2].
BlockedWait classify_blocked(const SyscallLine& call);

// The fds a pollfd array copied from a process waits to read (POLLIN or
// POLLRDNORM; negative fds are skipped), appended to out. size is in bytes;
// a trailing partial entry is ignored.
void poll_read_fds(const unsigned char* bytes, size_t size,
                   std::vector<int>* out);

// How many bytes of an fd_set hold the fds below nfds (whole longs, as the
// kernel copies them).
size_t fdset_bytes(uint64_t nfds);

// The fds below nfds set in an fd_set copied from a process, appended to
// out. Only the first size bytes are looked at.
void fdset_read_fds(const unsigned char* bytes, size_t size, uint64_t nfds,
                    std::vector<int>* out);

// "socket:[12345]" -> 12345; nullopt for any other link target.
std::optional<uint64_t> parse_socket_link(std::string_view target);

// "anon_inode:[eventpoll]": the fd is an epoll instance.
bool is_epoll_link(std::string_view target);

// What one process shows, as far as held sockets go.
struct ProcessWaits {
  std::vector<std::pair<int, uint64_t>> sockets;  // its fds of held sockets
  std::vector<EpollTarget> epoll_targets;         // of all its epoll fds
  // Held-socket fds its threads are blocked on: accept's fd, and the fds of
  // a poll or select read set.
  std::vector<std::pair<int, WaitHow>> blocked;
  void clear() {
    sockets.clear();
    epoll_targets.clear();
    blocked.clear();
  }
};

// Who was seen waiting on a held socket, and how.
struct Waiter {
  int pid = 0;
  WaitHow how = WaitHow::kNone;  // kNone: nobody seen
};

// The rule: a held socket (by inode) is waited on when it is in an epoll set
// of the process for reading (by inode; by fd where the kernel prints no
// inode), or the fd of a blocked accept, or in the read set of a blocked poll
// or select. For each held[i] not seen yet ((*found)[i].how == kNone) that p
// waits on, sets (*found)[i] = {pid, how}: epoll first, then the blocked
// calls in p.blocked's order. found has held's size. Returns how many it set.
size_t match_waits(const ProcessWaits& p, int pid,
                   const std::vector<uint64_t>& held,
                   std::vector<Waiter>* found);

// "accepting web: epoll pid=123"; "accepting web: not waited on".
std::string describe_waiter(std::string_view name, const Waiter& w);

}  // namespace byed
