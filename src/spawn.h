// spawn.h — fork/exec of one generation, with its fd layout and environment.
//
// The only place byed forks. Between fork and exec the child runs only
// async-signal-safe code: it places the held sockets at fds 3.., the upgrade
// pipe after them, closes every other fd of byed's, fills in LISTEN_PID with
// its own pid, resets signal dispositions and mask, asks for PDEATHSIG, and
// execs the program, trying each PATH entry as execvp would. If exec fails it
// reports errno over a close-on-exec pipe and exits 127 (not found) or 126
// (found but not runnable), as a shell does.
#pragma once

#include <string>
#include <vector>

namespace byed {

struct SpawnRequest {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH if no '/'
  std::vector<std::string> env;   // the child's environment, less LISTEN_*
                                  // and UPGRADE_FD, which spawn adds
  std::vector<int> listen_fds;    // placed at 3, 4, ... in this order
  std::vector<std::string> listen_names;  // LISTEN_FDNAMES, one per fd
  int upgrade_fd = -1;         // placed after the sockets: UPGRADE_FD=n
  bool take_terminal = false;  // make the child the tty's foreground group
};

struct SpawnResult {
  int pid = -1;         // -1: fork failed
  int error = 0;        // errno of the failure, 0 when exec succeeded
  std::string message;  // "cannot run './x': No such file or directory"
};

SpawnResult spawn_child(const SpawnRequest& request);

// The file names exec will try for argv0, in order, given a PATH value.
std::vector<std::string> exec_candidates(const std::string& argv0,
                                         const std::string& path);

// True when this process's group owns the terminal on stdin, so a child may
// be handed the terminal without stealing it from a shell.
bool own_foreground_terminal();

}  // namespace byed
