// markers.h — the files byed leaves for the other members of a group:
// NAME.exit in EXIT_DIR (the leader's generation ended) and NAME.ready in
// --ready-dir (this member is ready). Their names and content are built
// here, pure; the shell only writes them (whole-or-nothing, atomic_file.h).
#pragma once

#include <time.h>

#include <optional>
#include <string>

#include "supervisor.h"

namespace byed {

// "NAME.exit": the marker a member leaves.
std::string marker_name(const std::string& member);
// "NAME.ready".
std::string ready_marker_name(const std::string& member);

struct ExitRecord {
  std::string name;
  int pid = 0;
  std::optional<int> exit_code;  // set for a normal exit
  std::optional<int> signal;     // set for death by signal
  timespec started_at{};         // CLOCK_REALTIME
  timespec exited_at{};
  std::string host;
};

// The record of the generation that `m` is about, for member `name`, which
// ended at `exited_at` on `host`.
ExitRecord exit_record(const std::string& name, const WriteExitMarker& m,
                       const timespec& exited_at, const std::string& host);

// One line of JSON, keys in order: {"exit_code":3,"exited_at":"...Z",
// "host":"h","name":"main","pid":1234,"signal":null,"started_at":"...Z"}.
std::string exit_record_json(const ExitRecord& r);

// {"name":"NAME","pid":PID} and a newline.
std::string ready_marker_json(const std::string& name, int pid);

}  // namespace byed
