// notify_message.h — sd_notify's messages, both ways, as text.
//
// Pure. Downstream, the shell receives a datagram on a generation's
// NOTIFY_SOCKET and checks who sent it (notify.h); what its lines say —
// ready, a watchdog ping or trigger, a status, a request for more time — is
// read here, and the shell only passes it on. Upstream, the text byed sends
// to its own NOTIFY_SOCKET for a NotifySystemd action is built here.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "supervisor.h"

namespace byed {

// "READY=1\nSTATUS=x" -> {READY: 1, STATUS: x}. Lines without '=' (or with
// an empty key) are skipped; a later key wins.
std::map<std::string, std::string> parse_notify(std::string_view datagram);

// The parts of sd_notify's protocol byed acts on; the rest (MAINPID=,
// FDSTORE=, ...) is ignored.
struct NotifyMessage {
  bool ready = false;                 // READY=1
  bool watchdog = false;              // WATCHDOG=1
  bool watchdog_trigger = false;      // WATCHDOG=trigger
  std::optional<std::string> status;  // STATUS=, empty too
  // EXTEND_TIMEOUT_USEC=N; 0 when absent, 0, or not a decimal number that
  // fits in 64 bits (a bad number asks for nothing).
  uint64_t extend_timeout_usec = 0;
};

NotifyMessage parse_notify_message(std::string_view datagram);

// What the core hears of a message besides READY=1: ChildSaid for
// generation `gen`, or nullopt when the message says nothing more.
std::optional<ChildSaid> child_said(const NotifyMessage& m, int gen);

// Upstream: the datagram byed sends to its own NOTIFY_SOCKET for `n`
// (lines: the state's, STATUS=, EXTEND_TIMEOUT_USEC=, MAINPID=`pid` with
// READY=1, MONOTONIC_USEC=`mono_usec` with RELOADING=1). Empty: nothing to
// send.
std::string upstream_notify(const NotifySystemd& n, int pid, int64_t mono_usec);

}  // namespace byed
