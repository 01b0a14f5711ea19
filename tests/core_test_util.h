// core_test_util.h — what the core's event tests share: wait statuses and
// picking actions of one kind out of the core's answer.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "markers.h"
#include "supervisor.h"

namespace byed::test {

inline int exited(int code) { return (code & 0xff) << 8; }  // a wait status
inline int killed(int sig) { return sig; }

template <typename T>
std::vector<T> only(const std::vector<Action>& actions) {
  std::vector<T> out;
  for (const auto& a : actions) {
    if (auto* p = std::get_if<T>(&a)) out.push_back(*p);
  }
  return out;
}

// The code of the ExitProcess among `actions`, if there is one.
inline std::optional<int> exit_of(const std::vector<Action>& actions) {
  auto e = only<ExitProcess>(actions);
  if (e.empty()) return std::nullopt;
  return e.front().code;
}

// The exit record the marker tests write and read back.
inline ExitRecord sample_exit_record(const std::string& name) {
  ExitRecord r;
  r.name = name;
  r.pid = 1234;
  r.exit_code = 3;
  r.started_at = {1700000000, 5000000};
  r.exited_at = {1700000001, 999000000};
  r.host = "h";
  return r;
}

}  // namespace byed::test
