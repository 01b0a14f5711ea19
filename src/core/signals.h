// signals.h — signal names and which signals byed handles how.
//
// Pure tables and functions: the name <-> number mapping used by the command
// line and the logs, the set of signals byed catches, the classification
// of each one (stop, upgrade, reap, forward), and the reading of a process's
// caught-signal mask. byed installs no handler at all: the signals it
// catches stay blocked and are read from a signalfd (shell/runtime_start.cc).
#pragma once

#include <cstdint>
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
  kStop,      // TERM, INT, QUIT: stop every generation
  kUpgrade,   // the configured upgrade signal
  kReap,      // CHLD
  kJobStop,   // TSTP, TTIN, TTOU: the program stops, then byed (job control)
  kContinue,  // CONT: the job goes on
  kForward,   // everything else that is catchable: to the current generation
};

SignalClass classify_signal(int sig, int upgrade_signal);

// Every signal byed catches (blocks and reads from its signalfd). Excludes KILL
// and STOP (cannot be caught), the synchronous fault signals (SEGV, BUS, FPE,
// ILL, TRAP, SYS, ABRT: a fault in byed must not be "forwarded"), PIPE (byed
// ignores it so a closed stderr cannot kill it) and the two realtime signals
// glibc reserves.
std::vector<int> caught_signals();

// The `SigCgt:` mask of a /proc/PID/status text: the signals that process
// has a handler for, bit N-1 for signal N. nullopt when there is no such
// line or it is not hexadecimal.
std::optional<uint64_t> parse_sigcgt(std::string_view status);

// Whether a program with caught-signal mask `sigcgt` handles
// `upgrade_signal` itself (0: no upgrade signal): byed then takes over a
// signal the program expects, and says so once.
bool catches_upgrade_signal(uint64_t sigcgt, int upgrade_signal);

}  // namespace byed
