// markers.cc — names and content of NAME.exit and NAME.ready (markers.h).
#include "markers.h"

#include <sys/wait.h>

#include "child_log.h"
#include "text.h"

namespace byed {
namespace {

void append_optional(std::string* out, const std::optional<int>& v) {
  *out += v ? std::to_string(*v) : "null";
}

}  // namespace

std::string marker_name(const std::string& member) { return member + ".exit"; }

std::string ready_marker_name(const std::string& member) {
  return member + ".ready";
}

ExitRecord exit_record(const std::string& name, const WriteExitMarker& m,
                       const timespec& exited_at, const std::string& host) {
  ExitRecord r;
  r.name = name;
  r.pid = m.pid;
  if (WIFSIGNALED(m.wait_status)) {
    r.signal = WTERMSIG(m.wait_status);
  } else {
    r.exit_code = exit_code_from_wait_status(m.wait_status);
  }
  r.started_at = m.started_at;
  r.exited_at = exited_at;
  r.host = host;
  return r;
}

std::string exit_record_json(const ExitRecord& r) {
  std::string out = "{\"exit_code\":";
  append_optional(&out, r.exit_code);
  out += ",\"exited_at\":\"" + rfc3339(r.exited_at, 3) + "\",\"host\":";
  append_json_string(&out, r.host);
  out += ",\"name\":";
  append_json_string(&out, r.name);
  out += ",\"pid\":" + std::to_string(r.pid) + ",\"signal\":";
  append_optional(&out, r.signal);
  out += ",\"started_at\":\"" + rfc3339(r.started_at, 3) + "\"}\n";
  return out;
}

std::string ready_marker_json(const std::string& name, int pid) {
  std::string out = "{\"name\":";
  append_json_string(&out, name);
  out += ",\"pid\":" + std::to_string(pid) + "}\n";
  return out;
}

}  // namespace byed
