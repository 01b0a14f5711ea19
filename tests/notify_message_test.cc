#include "notify_message.h"

#include <doctest/doctest.h>

using namespace byed;

TEST_CASE("notify datagrams parse into key/value pairs") {
  auto kv = parse_notify("READY=1\nSTATUS=serving on :80\nMAINPID=7");
  CHECK(kv["READY"] == "1");
  CHECK(kv["STATUS"] == "serving on :80");
  CHECK(kv["MAINPID"] == "7");
  CHECK(parse_notify("").empty());
  CHECK(parse_notify("garbage\n=x\n\n").empty());
  CHECK(parse_notify("A=1\nA=2")["A"] == "2");
  CHECK(parse_notify("X=a=b")["X"] == "a=b");
}

TEST_CASE("notify message: READY=1 is ready, nothing else is") {
  CHECK(parse_notify_message("READY=1").ready);
  CHECK(parse_notify_message("STATUS=x\nREADY=1\n").ready);
  CHECK_FALSE(parse_notify_message("READY=0").ready);
  CHECK_FALSE(parse_notify_message("READY=yes").ready);
  CHECK_FALSE(parse_notify_message("READY").ready);
  CHECK_FALSE(parse_notify_message("MAINPID=1").ready);
  // A later line wins.
  CHECK_FALSE(parse_notify_message("READY=1\nREADY=0").ready);
}

TEST_CASE("notify message: watchdog ping and trigger") {
  NotifyMessage ping = parse_notify_message("WATCHDOG=1");
  CHECK(ping.watchdog);
  CHECK_FALSE(ping.watchdog_trigger);
  NotifyMessage trigger = parse_notify_message("WATCHDOG=trigger");
  CHECK_FALSE(trigger.watchdog);
  CHECK(trigger.watchdog_trigger);
  NotifyMessage other = parse_notify_message("WATCHDOG=0");
  CHECK_FALSE(other.watchdog);
  CHECK_FALSE(other.watchdog_trigger);
}

TEST_CASE("notify message: STATUS, empty too") {
  CHECK(parse_notify_message("STATUS=serving").status == "serving");
  CHECK(parse_notify_message("STATUS=").status == "");
  CHECK_FALSE(parse_notify_message("READY=1").status.has_value());
}

TEST_CASE("notify message: EXTEND_TIMEOUT_USEC, a bad number asks nothing") {
  CHECK(
      parse_notify_message("EXTEND_TIMEOUT_USEC=5000000").extend_timeout_usec ==
      5000000);
  CHECK(parse_notify_message("EXTEND_TIMEOUT_USEC=18446744073709551615")
            .extend_timeout_usec == UINT64_MAX);
  for (const char* bad :
       {"EXTEND_TIMEOUT_USEC=", "EXTEND_TIMEOUT_USEC=12abc",
        "EXTEND_TIMEOUT_USEC=-5", "EXTEND_TIMEOUT_USEC= 5",
        "EXTEND_TIMEOUT_USEC=+5", "EXTEND_TIMEOUT_USEC=18446744073709551616",
        "EXTEND_TIMEOUT_USEC=99999999999999999999"}) {
    CAPTURE(bad);
    CHECK(parse_notify_message(bad).extend_timeout_usec == 0);
  }
}

TEST_CASE("notify message: the core hears ChildSaid only when there is more") {
  CHECK_FALSE(child_said(parse_notify_message("READY=1"), 2).has_value());
  CHECK_FALSE(child_said(parse_notify_message("MAINPID=4"), 2).has_value());
  CHECK_FALSE(
      child_said(parse_notify_message("EXTEND_TIMEOUT_USEC=x"), 2).has_value());

  auto said = child_said(parse_notify_message("READY=1\nWATCHDOG=1\nSTATUS=up\n"
                                              "EXTEND_TIMEOUT_USEC=7"),
                         3);
  REQUIRE(said.has_value());
  CHECK(said->gen == 3);
  CHECK(said->watchdog);
  CHECK_FALSE(said->watchdog_trigger);
  CHECK(said->status == "up");
  CHECK(said->extend_timeout_usec == 7);

  CHECK(child_said(parse_notify_message("WATCHDOG=trigger"), 1)
            ->watchdog_trigger);
  CHECK(child_said(parse_notify_message("STATUS="), 1)->status == "");
  CHECK(child_said(parse_notify_message("EXTEND_TIMEOUT_USEC=1"), 1)
            ->extend_timeout_usec == 1);
}

TEST_CASE("upstream notify: the state's line, then what goes with it") {
  using State = NotifySystemd::State;
  CHECK(upstream_notify(NotifySystemd{State::kNone, "", 0}, 7, 9).empty());
  CHECK(upstream_notify(NotifySystemd{State::kReady, "serving", 0}, 7, 9) ==
        "READY=1\nSTATUS=serving\nMAINPID=7");
  CHECK(upstream_notify(NotifySystemd{State::kReloading, "", 0}, 7,
                        123456789) == "RELOADING=1\nMONOTONIC_USEC=123456789");
  CHECK(upstream_notify(NotifySystemd{State::kStopping, "", 0}, 7, 9) ==
        "STOPPING=1");
  CHECK(upstream_notify(NotifySystemd{State::kNone, "up", 5}, 7, 9) ==
        "STATUS=up\nEXTEND_TIMEOUT_USEC=5");
  CHECK(upstream_notify(NotifySystemd{State::kNone, "", 1}, 7, 9) ==
        "EXTEND_TIMEOUT_USEC=1");
  CHECK(upstream_notify(NotifySystemd{State::kWatchdog, "", 0}, 7, 9) ==
        "WATCHDOG=1");
  CHECK(upstream_notify(NotifySystemd{State::kWatchdogTrigger, "", 0}, 7, 9) ==
        "WATCHDOG=trigger");
}
