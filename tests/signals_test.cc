#include "signals.h"

#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <string>
#include <vector>

using byed::parse_signal;

TEST_CASE("signal names parse in every usual spelling") {
  CHECK(parse_signal("TERM") == SIGTERM);
  CHECK(parse_signal("SIGTERM") == SIGTERM);
  CHECK(parse_signal("term") == SIGTERM);
  CHECK(parse_signal("15") == SIGTERM);
  CHECK(parse_signal("USR1") == SIGUSR1);
  CHECK(parse_signal("sigwinch") == SIGWINCH);
  CHECK(parse_signal("RTMIN") == SIGRTMIN);
  CHECK(parse_signal("RTMIN+2") == SIGRTMIN + 2);
  CHECK(parse_signal("RTMAX-1") == SIGRTMAX - 1);
}

TEST_CASE("uncatchable or unknown signals are rejected") {
  for (const char* bad :
       {"KILL", "SIGSTOP", "9", "19", "0", "65", "", "SIG", "FOO", "RTMIN-1",
        "RTMAX+1", "RTMIN+", "1x", "-1", "32", "33"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_signal(bad).has_value());
  }
}

TEST_CASE("names round-trip") {
  for (int sig : byed::caught_signals()) {
    CAPTURE(sig);
    CHECK(parse_signal(byed::signal_name(sig)) == sig);
  }
}

TEST_CASE("classification") {
  using byed::classify_signal;
  using byed::SignalClass;
  CHECK(classify_signal(SIGTERM, SIGUSR1) == SignalClass::kStop);
  CHECK(classify_signal(SIGINT, SIGUSR1) == SignalClass::kStop);
  CHECK(classify_signal(SIGQUIT, SIGUSR1) == SignalClass::kStop);
  CHECK(classify_signal(SIGUSR1, SIGUSR1) == SignalClass::kUpgrade);
  CHECK(classify_signal(SIGUSR1, SIGUSR2) == SignalClass::kForward);
  CHECK(classify_signal(SIGCHLD, SIGUSR1) == SignalClass::kReap);
  CHECK(classify_signal(SIGHUP, SIGUSR1) == SignalClass::kForward);
}

TEST_CASE("caught set: forwardable ones in, faults and PIPE out") {
  auto s = byed::caught_signals();
  auto has = [&](int sig) { return std::count(s.begin(), s.end(), sig) == 1; };
  for (int sig : {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGCHLD,
                  SIGWINCH, SIGTTIN, SIGTTOU, SIGALRM, SIGCONT, SIGTSTP}) {
    CAPTURE(sig);
    CHECK(has(sig));
  }
  CHECK(has(SIGRTMIN));
  CHECK(has(SIGRTMAX));
  for (int sig : {SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGPIPE,
                  SIGABRT, SIGTRAP, SIGSYS, 32, 33}) {
    CAPTURE(sig);
    CHECK_FALSE(has(sig));
  }
}

TEST_CASE(
    "SigCgt: the mask of /proc/PID/status, and the upgrade signal in it") {
  // A python program with a USR1 handler: INT (python's own) and USR1.
  const std::string status =
      "Name:\tpython3\nSigQ:\t0/31503\nSigPnd:\t0000000000000000\n"
      "SigBlk:\t0000000000000000\nSigIgn:\t0000000001001000\n"
      "SigCgt:\t0000000180000202\nCapInh:\t0000000000000000\n";
  auto mask = byed::parse_sigcgt(status);
  REQUIRE(mask);
  CHECK(*mask == 0x180000202ULL);
  CHECK(byed::catches_upgrade_signal(*mask, SIGUSR1));
  CHECK(byed::catches_upgrade_signal(*mask, SIGINT));
  CHECK_FALSE(byed::catches_upgrade_signal(*mask, SIGUSR2));
  CHECK_FALSE(byed::catches_upgrade_signal(*mask, SIGHUP));
  CHECK_FALSE(byed::catches_upgrade_signal(*mask, 0));  // --upgrade-signal none
  CHECK_FALSE(byed::catches_upgrade_signal(~0ULL, 0));
  CHECK(byed::catches_upgrade_signal(1ULL << 63, 64));
  CHECK_FALSE(byed::catches_upgrade_signal(~0ULL, 65));
  // The last line, without a newline; a realtime signal's bit.
  mask = byed::parse_sigcgt("Name:\tx\nSigCgt:\t8000000000000000");
  REQUIRE(mask);
  CHECK(byed::catches_upgrade_signal(*mask, 64));
  // No line, a key inside another line, not hexadecimal, trailing junk.
  CHECK_FALSE(byed::parse_sigcgt("Name:\tx\nSigIgn:\t0\n"));
  CHECK_FALSE(byed::parse_sigcgt("Name:\tSigCgt:\t1\n"));
  CHECK_FALSE(byed::parse_sigcgt("SigCgt:\tzz\n"));
  CHECK_FALSE(byed::parse_sigcgt("SigCgt:\t12 34\n"));
  CHECK_FALSE(byed::parse_sigcgt("SigCgt:\t\n"));
  CHECK_FALSE(byed::parse_sigcgt(""));
}

TEST_CASE("signal names: aliases, the realtime range and its ends") {
  CHECK(parse_signal("IOT") == SIGABRT);
  CHECK(parse_signal("SIGPOLL") == SIGIO);
  CHECK(parse_signal("RTMAX") == SIGRTMAX);
  CHECK(parse_signal("RTMIN+0") == SIGRTMIN);
  CHECK(parse_signal("RTMAX-0") == SIGRTMAX);
  CHECK(parse_signal("RTMIN+" + std::to_string(SIGRTMAX - SIGRTMIN)) ==
        SIGRTMAX);
  // An offset past the other end is not an ordinary signal's number.
  for (const std::string& bad : std::vector<std::string>{
           "RTMIN+" + std::to_string(SIGRTMAX - SIGRTMIN + 1),
           "RTMAX-" + std::to_string(SIGRTMAX - SIGRTMIN + 1), "RTMAX-40",
           "RTMIN+-20", "RTMINX", "RTMAX+0"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_signal(bad).has_value());
  }
}

TEST_CASE("signal names render as byed prints them") {
  using byed::signal_name;
  CHECK(signal_name(SIGHUP) == "HUP");
  CHECK(signal_name(SIGSYS) == "SYS");
  CHECK(signal_name(SIGRTMIN) == "RTMIN");
  CHECK(signal_name(SIGRTMIN + 1) == "RTMIN+1");
  CHECK(signal_name(SIGRTMAX) ==
        "RTMIN+" + std::to_string(SIGRTMAX - SIGRTMIN));
  CHECK(signal_name(32) == "SIG32");
  CHECK(signal_name(SIGRTMAX + 1) == "SIG" + std::to_string(SIGRTMAX + 1));
  CHECK(signal_name(0) == "SIG0");
}

TEST_CASE("SigCgt: the first line, and spaces before the mask") {
  CHECK(byed::parse_sigcgt("SigCgt:\t2\n") == 2U);
  CHECK(byed::parse_sigcgt("Name:\tx\nSigCgt:  \t 4000\nX:\t1\n") == 0x4000U);
  CHECK(byed::parse_sigcgt("XSigCgt:\t1\nSigCgt:\t3\n") == 3U);
}

TEST_CASE("signal numbers: one digit or two, within the catchable range") {
  CHECK(parse_signal("1") == SIGHUP);
  CHECK(parse_signal("SIG2") == SIGINT);
  CHECK(parse_signal(std::to_string(SIGRTMAX)) == SIGRTMAX);
  // A mask wider than 64 bits is not one byed can read.
  CHECK_FALSE(byed::parse_sigcgt("SigCgt:\t10000000000000000\n"));
}
