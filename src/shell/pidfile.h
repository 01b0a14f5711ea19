// pidfile.h — PIDFILE: byed's own pid, for whoever sends it USR1.
//
// Written atomically (atomic_file.h: an unnamed or unguessable temp file in
// the same directory, then link/rename), mode 0644, "PID\n". Whatever is at
// the final path is replaced — a symlink planted there is replaced, never
// followed. Removed on exit only while it still holds our pid.
#pragma once

#include <sys/types.h>

#include <string>

namespace byed {

bool write_pidfile(const std::string& path, pid_t pid, std::string* err);

// Removes path if it is a regular file holding exactly "pid\n".
void remove_pidfile(const std::string& path, pid_t pid);

// At start-up: reads the PIDFILE and the process it names, and carries
// out judge_pidfile's verdict (startup.h): a stale file is removed now.
// *note says what was done, for the log (empty when there was nothing to
// do).
bool clear_stale_pidfile(const std::string& path, std::string* note,
                         std::string* err);

// The pid a pidfile holds, or -1 if it holds none (absent, not a regular
// file, malformed).
pid_t read_pidfile(const std::string& path);

}  // namespace byed
