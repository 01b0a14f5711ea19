// signals.h — signal names and which signals byed handles how.
//
// Pure tables and functions: the name <-> number mapping used by the command
// line and the logs, the set of signals byed catches, and the classification
// of each one (stop, upgrade, reap, forward). No handler is installed here;
// loop.cc does that.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace byed {

// "TERM", "SIGTERM", "term" and "15" all name SIGTERM. Realtime signals are
// accepted as "RTMIN", "RTMIN+3", "RTMAX-1". Returns nullopt for anything
// else, including SIGKILL and SIGSTOP, which cannot be caught.
std::optional<int> parse_signal(std::string_view text);

// "TERM" for SIGTERM, "RTMIN+2" for a realtime signal, "SIG42" otherwise.
std::string signal_name(int sig);

enum class SignalClass {
  kStop,     // TERM, INT, QUIT: stop every generation
  kUpgrade,  // the configured upgrade signal
  kReap,     // CHLD
  kForward,  // everything else that is catchable: to the current generation
};

SignalClass classify_signal(int sig, int upgrade_signal);

// Every signal byed installs a handler for. Excludes KILL and STOP (cannot be
// caught), the synchronous fault signals (SEGV, BUS, FPE, ILL, TRAP, SYS,
// ABRT: a fault in byed must not be "forwarded"), PIPE (byed ignores it so a
// closed stderr cannot kill it) and the two realtime signals glibc reserves.
std::vector<int> caught_signals();

}  // namespace byed
