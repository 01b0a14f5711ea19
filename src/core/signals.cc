#include "signals.h"

#include <signal.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace byed {
namespace {

struct Named {
  int sig;
  const char* name;
};

constexpr Named kNames[] = {
    {SIGHUP, "HUP"},       {SIGINT, "INT"},       {SIGQUIT, "QUIT"},
    {SIGILL, "ILL"},       {SIGTRAP, "TRAP"},     {SIGABRT, "ABRT"},
    {SIGBUS, "BUS"},       {SIGFPE, "FPE"},       {SIGKILL, "KILL"},
    {SIGUSR1, "USR1"},     {SIGSEGV, "SEGV"},     {SIGUSR2, "USR2"},
    {SIGPIPE, "PIPE"},     {SIGALRM, "ALRM"},     {SIGTERM, "TERM"},
    {SIGSTKFLT, "STKFLT"}, {SIGCHLD, "CHLD"},     {SIGCONT, "CONT"},
    {SIGSTOP, "STOP"},     {SIGTSTP, "TSTP"},     {SIGTTIN, "TTIN"},
    {SIGTTOU, "TTOU"},     {SIGURG, "URG"},       {SIGXCPU, "XCPU"},
    {SIGXFSZ, "XFSZ"},     {SIGVTALRM, "VTALRM"}, {SIGPROF, "PROF"},
    {SIGWINCH, "WINCH"},   {SIGIO, "IO"},         {SIGPWR, "PWR"},
    {SIGSYS, "SYS"},
};

std::optional<int> parse_int(std::string_view s) {
  int v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

bool catchable(int sig) {
  return sig >= 1 && sig <= SIGRTMAX && sig != SIGKILL && sig != SIGSTOP &&
         !(sig > SIGSYS && sig < SIGRTMIN);
}

}  // namespace

std::optional<int> parse_signal(std::string_view text) {
  std::string up;
  for (char c : text)
    up.push_back(
        static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  std::string_view s = up;
  if (s.substr(0, 3) == "SIG") s.remove_prefix(3);
  if (s.empty()) return std::nullopt;

  std::optional<int> sig;
  if (std::isdigit(static_cast<unsigned char>(s[0]))) {
    sig = parse_int(s);
  } else if (s.substr(0, 5) == "RTMIN" || s.substr(0, 5) == "RTMAX") {
    bool min = s[4] == 'N';
    std::string_view rest = s.substr(5);
    int off = 0;
    if (!rest.empty()) {
      if (rest[0] != (min ? '+' : '-')) return std::nullopt;
      auto n = parse_int(rest.substr(1));
      if (!n) return std::nullopt;
      off = *n;
    }
    sig = min ? SIGRTMIN + off : SIGRTMAX - off;
    if (*sig < SIGRTMIN || *sig > SIGRTMAX) return std::nullopt;
  } else {
    for (const auto& n : kNames) {
      if (s == n.name) sig = n.sig;
    }
    if (s == "IOT") sig = SIGABRT;
    if (s == "POLL") sig = SIGIO;
  }
  if (!sig || !catchable(*sig)) return std::nullopt;
  return sig;
}

std::string signal_name(int sig) {
  for (const auto& n : kNames) {
    if (n.sig == sig) return n.name;
  }
  if (sig == SIGRTMIN) return "RTMIN";
  if (sig > SIGRTMIN && sig <= SIGRTMAX) {
    return "RTMIN+" + std::to_string(sig - SIGRTMIN);
  }
  return "SIG" + std::to_string(sig);
}

SignalClass classify_signal(int sig, int upgrade_signal) {
  if (sig == upgrade_signal) return SignalClass::kUpgrade;
  if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT) {
    return SignalClass::kStop;
  }
  if (sig == SIGCHLD) return SignalClass::kReap;
  if (sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU) {
    return SignalClass::kJobStop;
  }
  if (sig == SIGCONT) return SignalClass::kContinue;
  return SignalClass::kForward;
}

std::vector<int> caught_signals() {
  static constexpr int kNotCaught[] = {SIGKILL, SIGSTOP, SIGSEGV, SIGBUS,
                                       SIGFPE,  SIGILL,  SIGTRAP, SIGSYS,
                                       SIGABRT, SIGPIPE};
  std::vector<int> out;
  for (int sig = 1; sig <= SIGRTMAX; ++sig) {
    if (!catchable(sig)) continue;
    if (std::find(std::begin(kNotCaught), std::end(kNotCaught), sig) !=
        std::end(kNotCaught)) {
      continue;
    }
    out.push_back(sig);
  }
  return out;
}

std::optional<uint64_t> parse_sigcgt(std::string_view status) {
  constexpr std::string_view kKey = "SigCgt:";
  size_t at = 0;
  while (true) {
    at = status.find(kKey, at);
    if (at == std::string_view::npos) return std::nullopt;
    if (at == 0 || status[at - 1] == '\n') break;
    at += kKey.size();
  }
  std::string_view rest = status.substr(at + kKey.size());
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) {
    rest.remove_prefix(1);
  }
  uint64_t mask{};
  auto [end, ec] =
      std::from_chars(rest.data(), rest.data() + rest.size(), mask, 16);
  if (ec != std::errc()) return std::nullopt;
  if (end != rest.data() + rest.size() && *end != '\n') return std::nullopt;
  return mask;
}

bool catches_upgrade_signal(uint64_t sigcgt, int upgrade_signal) {
  if (upgrade_signal <= 0 || upgrade_signal > 64) return false;
  return (sigcgt >> (upgrade_signal - 1)) & 1U;
}

}  // namespace byed
