#include "log.h"

#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "fd.h"

namespace byed {
namespace {

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

std::string rfc3339(const timespec& ts, int fraction_digits) {
  tm utc{};
  gmtime_r(&ts.tv_sec, &utc);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  long frac = ts.tv_nsec;
  for (int i = fraction_digits; i < 9; ++i) frac /= 10;
  snprintf(buf + n, sizeof buf - n, ".%0*ldZ", fraction_digits, frac);
  return buf;
}

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return "error";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kDebug:
      return "debug";
  }
  return "info";
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
    for (const auto& [k, v] : r.fields) j[k] = v;
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
