#include "config.h"

#include <doctest/doctest.h>
#include <signal.h>

using byed::Millis;
using byed::parse_duration;

TEST_CASE("durations: units, sums, zero") {
  CHECK(parse_duration("0") == Millis{0});
  CHECK(parse_duration("250ms") == Millis{250});
  CHECK(parse_duration("2s") == Millis{2000});
  CHECK(parse_duration("1m") == Millis{60000});
  CHECK(parse_duration("1h") == Millis{3600000});
  CHECK(parse_duration("1m30s") == Millis{90000});
  CHECK(parse_duration("1s500ms") == Millis{1500});
  CHECK(parse_duration("0s") == Millis{0});
}

TEST_CASE("durations: everything else is rejected") {
  for (const char* bad :
       {"", "5", "s", "1x", "-1s", "1.5s", " 1s", "1s ", "1s1s", "1s1m",
        "1ms1s", "ms", "1S", "99999999999999999999s", "1m m", "2sec"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_duration(bad).has_value());
  }
}

TEST_CASE("durations render back") {
  CHECK(byed::format_duration(Millis{0}) == "0");
  CHECK(byed::format_duration(Millis{30000}) == "30s");
  CHECK(byed::format_duration(Millis{90000}) == "1m30s");
  CHECK(byed::format_duration(Millis{1500}) == "1500ms");
}

TEST_CASE("validate: program and upgrade signal") {
  byed::Config c;
  c.upgrade_signal = SIGUSR1;
  CHECK_THROWS_AS(byed::validate(c), byed::ConfigError);
  c.command = {"/bin/true"};
  CHECK_NOTHROW(byed::validate(c));
  for (int sig : {SIGTERM, SIGINT, SIGQUIT, SIGCHLD}) {
    c.upgrade_signal = sig;
    CHECK_THROWS_AS(byed::validate(c), byed::ConfigError);
  }
  c.upgrade_signal = SIGHUP;
  CHECK_NOTHROW(byed::validate(c));
}

TEST_CASE("default name is the program's basename") {
  CHECK(byed::default_name({"/usr/bin/python3", "-m"}) == "python3");
  CHECK(byed::default_name({"server"}) == "server");
  CHECK(byed::default_name({"dir/"}) == "byed");
}
