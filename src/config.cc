#include "config.h"

#include <signal.h>

#include <cctype>
#include <cstdint>

#include "signals.h"

namespace byed {

std::optional<Millis> parse_duration(std::string_view text) {
  if (text == "0") return Millis{0};
  if (text.empty()) return std::nullopt;
  // A sum of NUMBER UNIT terms, each unit at most once, largest first.
  static constexpr struct {
    std::string_view unit;
    int64_t ms;
  } kUnits[] = {{"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
  constexpr int64_t kMax = int64_t{1} << 40;  // ~35 years: no overflow below
  int64_t total = 0;
  size_t next_unit = 0;  // units must come in decreasing order, once each
  size_t i = 0;
  while (i < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
    int64_t n = 0;
    while (i < text.size() &&
           std::isdigit(static_cast<unsigned char>(text[i]))) {
      n = n * 10 + (text[i] - '0');
      if (n > kMax) return std::nullopt;
      ++i;
    }
    size_t j = i;
    while (j < text.size() &&
           std::isalpha(static_cast<unsigned char>(text[j]))) {
      ++j;
    }
    std::string_view unit = text.substr(i, j - i);
    size_t u = next_unit;
    while (u < std::size(kUnits) && kUnits[u].unit != unit) ++u;
    if (u == std::size(kUnits)) return std::nullopt;  // unknown or repeated
    total += n * kUnits[u].ms;
    if (total > kMax) return std::nullopt;
    next_unit = u + 1;
    i = j;
  }
  return Millis{total};
}

std::string format_duration(Millis d) {
  int64_t ms = d.count();
  if (ms == 0) return "0";
  std::string out;
  if (ms >= 60000) {
    out += std::to_string(ms / 60000) + "m";
    ms %= 60000;
  }
  if (ms >= 1000 && ms % 1000 == 0) {
    out += std::to_string(ms / 1000) + "s";
  } else if (ms > 0) {
    out += std::to_string(ms) + "ms";
  }
  return out;
}

void validate(const Config& config) {
  if (config.command.empty()) {
    throw ConfigError("no program given: byed [OPTIONS] -- PROGRAM [ARGS]");
  }
  if (config.command.front().empty()) {
    throw ConfigError("the program name is empty");
  }
  if (config.drain_signal <= 0) throw ConfigError("--drain-signal is not set");
  if (config.ready_timeout.count() <= 0) {
    throw ConfigError("--ready-timeout must be longer than 0");
  }
  auto cls = classify_signal(config.upgrade_signal, 0);
  if (cls != SignalClass::kForward || config.upgrade_signal <= 0) {
    throw ConfigError("--upgrade-signal " + signal_name(config.upgrade_signal) +
                      ": TERM, INT, QUIT and CHLD keep their own meaning");
  }
}

void parse_ready(std::string_view text, Config& config) {
  if (text == "auto") {
    config.ready_mode = ReadyMode::kAuto;
    config.ready_delay = Millis{1000};
  } else if (text == "message") {
    config.ready_mode = ReadyMode::kMessage;
  } else if (auto d = parse_duration(text); d && d->count() > 0) {
    config.ready_mode = ReadyMode::kDelay;
    config.ready_delay = *d;
  } else {
    throw ConfigError("--ready '" + std::string(text) +
                      "': expected auto, message, or a duration like 2s");
  }
}

void parse_exit_role(std::string_view text, Config& config) {
  bool leader = false, follower = false;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view part = text.substr(
        start, comma == std::string_view::npos ? text.npos : comma - start);
    if (part == "leader") {
      leader = true;
    } else if (part == "follower") {
      follower = true;
    } else {
      throw ConfigError("--exit-role '" + std::string(text) +
                        "': expected leader, follower or leader,follower");
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  config.exit_leader = leader;
  config.exit_follower = follower;
}

std::string default_name(const std::vector<std::string>& command) {
  if (command.empty()) return "byed";
  const std::string& p = command.front();
  auto slash = p.find_last_of('/');
  std::string base = slash == std::string::npos ? p : p.substr(slash + 1);
  return base.empty() ? "byed" : base;
}

}  // namespace byed
