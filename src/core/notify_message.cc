// notify_message.cc — the meaning of a notify datagram (notify_message.h).
#include "notify_message.h"

#include "text.h"

namespace byed {
namespace {

// A decimal number of at most 64 bits, digits only.
std::optional<uint64_t> parse_u64(std::string_view text) {
  if (text.empty()) return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

}  // namespace

std::map<std::string, std::string> parse_notify(std::string_view d) {
  std::map<std::string, std::string> out;
  for (std::string_view line : split(d, '\n')) {
    size_t eq = line.find('=');
    if (eq != std::string_view::npos && eq > 0) {
      out[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
    }
  }
  return out;
}

NotifyMessage parse_notify_message(std::string_view datagram) {
  const auto kv = parse_notify(datagram);
  NotifyMessage m;
  if (auto it = kv.find("READY"); it != kv.end()) m.ready = it->second == "1";
  if (auto it = kv.find("WATCHDOG"); it != kv.end()) {
    m.watchdog = it->second == "1";
    m.watchdog_trigger = it->second == "trigger";
  }
  if (auto it = kv.find("STATUS"); it != kv.end()) m.status = it->second;
  if (auto it = kv.find("EXTEND_TIMEOUT_USEC"); it != kv.end()) {
    m.extend_timeout_usec = parse_u64(it->second).value_or(0);
  }
  return m;
}

std::optional<ChildSaid> child_said(const NotifyMessage& m, int gen) {
  if (!m.watchdog && !m.watchdog_trigger && !m.status &&
      m.extend_timeout_usec == 0) {
    return std::nullopt;
  }
  ChildSaid said;
  said.gen = gen;
  said.watchdog = m.watchdog;
  said.watchdog_trigger = m.watchdog_trigger;
  said.status = m.status;
  said.extend_timeout_usec = m.extend_timeout_usec;
  return said;
}

std::string upstream_notify(const NotifySystemd& n, int pid,
                            int64_t mono_usec) {
  std::string msg;
  auto line = [&msg](const std::string& l) {
    if (!msg.empty()) msg += '\n';
    msg += l;
  };
  if (const char* state = notify_state_line(n.state)) line(state);
  if (!n.status.empty()) line("STATUS=" + n.status);
  if (n.extend_timeout_usec > 0) {
    line("EXTEND_TIMEOUT_USEC=" + std::to_string(n.extend_timeout_usec));
  }
  if (n.state == NotifySystemd::State::kReady) {
    line("MAINPID=" + std::to_string(pid));
  } else if (n.state == NotifySystemd::State::kReloading) {
    line("MONOTONIC_USEC=" + std::to_string(mono_usec));
  }
  return msg;
}

}  // namespace byed
