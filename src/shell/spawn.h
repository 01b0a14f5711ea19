// spawn.h — fork/exec of one generation, with its fd layout and environment.
//
// The only place byed forks. Between fork and exec the child runs only
// async-signal-safe code: it places the held sockets at fds 3.., the upgrade
// pipe after them, closes every other fd of byed's, fills in LISTEN_PID with
// its own pid, resets signal dispositions and mask, asks for PDEATHSIG, and
// execs the program, trying each PATH entry as execvp would (a file without
// a #! line runs under /bin/sh, as execvp and every shell run it). If exec
// fails it reports errno over a close-on-exec pipe and exits 127 (not found)
// or 126 (found but not runnable), as a shell does. The parent does not wait
// for that answer: it reads the pipe from the loop (read_exec_status), so a
// slow exec never stalls signal forwarding.
#pragma once

#include <string>
#include <vector>

#include "fd.h"

namespace byed {

struct SpawnRequest {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH if no '/'
  std::vector<std::string> env;   // the child's environment, less LISTEN_*
                                  // and UPGRADE_FD, which spawn adds
  std::vector<int> listen_fds;    // placed at 3, 4, ... in this order
  std::vector<std::string> listen_names;  // LISTEN_FDNAMES, one per fd
  int upgrade_fd = -1;  // placed after the sockets: UPGRADE_FD=n
  // --log-child: the child's stdout and stderr (pipes byed reads); -1:
  // byed's own, inherited.
  int stdout_fd = -1;
  int stderr_fd = -1;
  bool take_terminal = false;  // make the child the tty's foreground group
  // Start the child in a session of its own (setsid) rather than only a
  // process group of its own: for when byed has no controlling terminal
  // (see has_controlling_terminal). Either way its group id is its pid.
  bool new_session = false;
  std::vector<int> ignored;  // signals the child keeps ignored (nohup)
  // systemd's watchdog, passed on: WATCHDOG_USEC and WATCHDOG_PID=<its pid>.
  unsigned long long watchdog_usec = 0;
};

struct SpawnedChild {
  int pid = -1;
  UniqueFd exec_status;  // non-blocking; EOF once exec succeeded
};

// Forks the child. Fails only when the parent could not fork (or make the
// pipe); whether exec worked comes later through exec_status.
bool spawn_child(const SpawnRequest& request, SpawnedChild* out,
                 std::string* err);

enum class ExecStatus { kPending, kRan, kFailed };
// Reads what the child said: kPending (nothing yet), kRan (exec succeeded),
// or kFailed with *err like "cannot run './x': No such file or directory".
ExecStatus read_exec_status(int fd, const std::string& argv0, std::string* err);

// The file names exec will try for argv0, in order, given a PATH value.
std::vector<std::string> exec_candidates(const std::string& argv0,
                                         const std::string& path);

// True when this process's group owns the terminal on stdin, so a child may
// be handed the terminal without stealing it from a shell.
bool own_foreground_terminal();

// True when this process has a controlling terminal (an interactive shell,
// `docker run -t`); false under systemd, cron, nohup with no tty, a
// container without -t.
bool has_controlling_terminal();

}  // namespace byed
