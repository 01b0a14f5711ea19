#include "log.h"

#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "config.h"
#include "fd.h"
#include "text.h"

namespace byed {
namespace {

// JSON types for byed's own records (SPEC: numbers as numbers): the fields
// that count things carry integers; the durations carry seconds, under the
// field's name with `_s`. Text form shows them as they were given.
bool integer_field(std::string_view key) {
  static constexpr std::string_view kKeys[] = {
      "pid",      "pgid",     "old_gen",  "new_gen",    "serving_gen",
      "restart",  "restarts", "failures", "of",         "status",
      "child_fd", "sender",   "gen",      "waiting_for"};
  for (std::string_view k : kKeys) {
    if (k == key) return true;
  }
  return false;
}

bool duration_field(std::string_view key) {
  static constexpr std::string_view kKeys[] = {
      "in", "within", "delay", "settle", "stop_timeout", "running_for"};
  for (std::string_view k : kKeys) {
    if (k == key) return true;
  }
  return false;
}

// Sets j[key] from a field's text, typed as above where the text allows.
void set_typed(nlohmann::json& j, const std::string& key,
               const std::string& value) {
  if (integer_field(key) && !value.empty() && value.size() < 19) {
    size_t i = value[0] == '-' ? 1 : 0;
    bool digits = i < value.size();
    for (; i < value.size(); ++i) digits &= value[i] >= '0' && value[i] <= '9';
    if (digits) {
      j[key] = std::stoll(value);
      return;
    }
  }
  if (duration_field(key)) {
    if (auto d = parse_duration(value)) {
      j[key + "_s"] = static_cast<double>(d->count()) / 1000.0;
      return;
    }
  }
  j[key] = value;
}

// A value needs quoting in text form when it is empty or holds a space,
// quote, backslash or control character.
std::string text_value(const std::string& v) {
  bool plain = !v.empty();
  for (unsigned char c : v) {
    if (c <= ' ' || c == '"' || c == '\\' || c == 0x7f) plain = false;
  }
  if (plain) return v;
  // JSON string escaping is a fine, well-known quoting for one value.
  return nlohmann::json(v).dump(-1, ' ', false,
                                nlohmann::json::error_handler_t::replace);
}

}  // namespace

const char* level_name(LogLevel level) {
  // In LogLevel's order.
  static constexpr const char* kNames[] = {"error", "warn", "info", "debug"};
  const auto i = static_cast<size_t>(level);
  return i < sizeof kNames / sizeof kNames[0] ? kNames[i] : "info";
}

std::string Logger::format(const LogRecord& r) const {
  if (format_ == LogFormat::kJson) {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    nlohmann::json j = {{"time", rfc3339(now, 6)},
                        {"level", level_name(r.level)},
                        {"byed_pid", pid_},
                        {"name", name_}};
    if (r.gen > 0) j["gen"] = r.gen;
    j["msg"] = r.message;
    for (const auto& [k, v] : r.fields) set_typed(j, k, v);
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
           "\n";
  }
  std::string line = name_ + "[" + std::to_string(pid_) + "]: ";
  if (r.level == LogLevel::kError) line += "error: ";
  if (r.level == LogLevel::kWarn) line += "warning: ";
  if (r.gen > 0) line += "gen=" + std::to_string(r.gen) + " ";
  line += r.message;
  for (const auto& [k, v] : r.fields) line += " " + k + "=" + text_value(v);
  line += "\n";
  return line;
}

void Logger::write(const LogRecord& record) const {
  if (!enabled(record.level)) return;
  if (to_) {
    to_(format(record));
    return;
  }
  // If stderr is gone there is nothing better to do than carry on.
  write_all(STDERR_FILENO, format(record));
}

}  // namespace byed
