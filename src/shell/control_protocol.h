// control_protocol.h — what the control socket's lines say: parsing a
// request, building each reply, and the status object `byed ctl status`
// shows. No I/O: the server (control_server.h) and the client (ctl.h) move
// these lines.
//
// One JSON object per line each way, versioned ("v": 1). Types: counts,
// pids and generation numbers are JSON numbers; times are RFC 3339 strings
// (UTC, milliseconds); durations are numbers of seconds whose key ends in
// `_s` (`uptime_s`, `duration_s`).
#pragma once

#include <time.h>

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sockets.h"
#include "supervisor.h"

namespace byed {

constexpr int kControlVersion = 1;
constexpr size_t kControlMaxLine = 64 * 1024;

// One message as it goes on the wire: compact JSON and a newline. Invalid
// UTF-8 in strings is replaced, never an exception.
std::string control_line(const nlohmann::json& message);

// Parses one request line: {"v":1,"cmd":"status"|"upgrade"|"stop"}, or
// {"v":1,"cmd":"workers","count":N} (N into *count).
bool parse_control_request(const std::string& line, Command* cmd,
                           std::string* err, int* count = nullptr);

// The reply lines, one per kind of answer.
nlohmann::json control_error(const std::string& message);
nlohmann::json upgrade_reply(const UpgradeResult& result);
nlohmann::json stopping_reply();
nlohmann::json workers_reply(int workers);

// What `status` answers: the core's view plus what only the shell knows.
struct StatusContext {
  int pid = 0;
  timespec started_at{};
  timespec now{};
  const std::vector<HeldSocket>* sockets = nullptr;
};
nlohmann::json status_reply(const StatusView& view, const StatusContext& ctx);

}  // namespace byed
