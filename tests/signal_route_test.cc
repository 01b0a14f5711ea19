// Supervisor::route: what a signal sends at once, before the core hears of
// it. Checked against what the core itself sends for that signal, in every
// phase and for every signal: the shell relies on the two agreeing (a route
// that sent less would lose a signal; one that sent more, or elsewhere,
// would signal a process the core did not mean).
#include <doctest/doctest.h>
#include <signal.h>

#include <string>
#include <vector>

#include "core_test_util.h"
#include "supervisor.h"

using namespace byed;

namespace {

using test::exited;
using test::killed;
using test::only;

bool same(const SendSignal& a, const SendSignal& b) {
  return a.pid == b.pid && a.sig == b.sig && a.target == b.target;
}

std::string describe(const SendSignal& s) {
  return std::to_string(s.pid) + "/" + std::to_string(s.sig) + "/" +
         std::to_string(static_cast<int>(s.target));
}

// For every signal: the route holds exactly the SendSignal actions the core
// answers the signal with (when it holds any), and a routed signal gets
// the same answer without them.
void check_routes(const Supervisor& s, const std::string& where) {
  CAPTURE(where);
  for (int sig = 1; sig < 65; ++sig) {
    CAPTURE(sig);
    const SignalRoute& r = s.route(sig);
    Supervisor plain = s;
    const auto a = plain.on(SignalReceived{sig});
    if (r.count == 0) continue;  // no shortcut: the core sends, as ever
    const auto sent = only<SendSignal>(a);
    REQUIRE(sent.size() == static_cast<size_t>(r.count));
    for (int i = 0; i < r.count; ++i) {
      const std::string what =
          describe(sent[i]) + " vs route " + describe(r.sends[i]);
      CHECK_MESSAGE(same(sent[i], r.sends[i]), what);
    }
    Supervisor routed = s;
    const auto b = routed.on(SignalReceived{sig, true});
    CHECK(only<SendSignal>(b).empty());
    std::vector<size_t> kinds_a, kinds_b;
    for (const auto& x : a) {
      if (!std::holds_alternative<SendSignal>(x)) kinds_a.push_back(x.index());
    }
    for (const auto& x : b) kinds_b.push_back(x.index());
    CHECK(kinds_a == kinds_b);
    CHECK(std::string(phase_name(routed.phase())) ==
          std::string(phase_name(plain.phase())));
  }
}

int routed_count(const Supervisor& s, int sig) { return s.route(sig).count; }

Config basic() {
  Config c;
  c.command = {"./srv"};
  c.ready.automatic = false;
  c.ready.message = true;
  c.ready_settle = Millis{0};
  return c;
}

Supervisor serving(Config c, int workers = 0) {
  c.workers = workers;
  Supervisor s(c);
  s.on(Start{});
  const int n = workers > 0 ? workers : 1;
  for (int i = 0; i < n; ++i) s.on(Spawned{1, 100 + i, "", i});
  for (int i = 0; i < n; ++i) s.on(ChildReady{1, "notify", i});
  REQUIRE(std::string(phase_name(s.phase())) == "serving");
  return s;
}

}  // namespace

TEST_CASE("route: one process, through an upgrade and a stop") {
  Supervisor s(basic());
  check_routes(s, "before start");
  CHECK(routed_count(s, SIGTERM) == 0);
  s.on(Start{});
  check_routes(s, "spawn asked");
  s.on(Spawned{1, 100, ""});
  check_routes(s, "starting");
  CHECK(routed_count(s, SIGTERM) == 1);
  CHECK(s.route(SIGTERM).sends[0].pid == 100);
  s.on(ChildReady{1, "notify"});
  check_routes(s, "serving");
  CHECK(routed_count(s, SIGHUP) == 1);
  CHECK(s.route(SIGHUP).sends[0].sig == SIGHUP);
  // Not routed: what the core decides when they come.
  CHECK(routed_count(s, SIGUSR1) == 0);  // the upgrade signal
  CHECK(routed_count(s, SIGCHLD) == 0);
  CHECK(routed_count(s, SIGTSTP) == 0);
  CHECK(routed_count(s, SIGCONT) == 0);
  s.on(SignalReceived{SIGUSR1});
  check_routes(s, "upgrade asked");
  s.on(Spawned{2, 200, ""});
  check_routes(s, "upgrading");
  CHECK(routed_count(s, SIGHUP) == 1);   // the serving one only
  CHECK(routed_count(s, SIGTERM) == 2);  // both
  s.on(ChildReady{2, "notify"});
  check_routes(s, "old draining");
  CHECK(s.route(SIGHUP).sends[0].pid == 200);
  s.on(ChildExited{100, exited(0), true});
  check_routes(s, "old leader gone, its group left");
  s.on(SignalReceived{SIGTERM, true});
  check_routes(s, "stopping");
  CHECK(routed_count(s, SIGTERM) == 2);  // again: a second stop signal
  s.on(ChildExited{200, killed(SIGTERM)});
  s.on(GroupEmpty{1});
  CHECK(s.exited());
  for (int sig = 1; sig < 65; ++sig) CHECK(routed_count(s, sig) == 0);
}

TEST_CASE("route: a routed stop is the same stop, without a second send") {
  Supervisor s = serving(basic());
  auto a = s.on(SignalReceived{SIGTERM, true});
  CHECK(only<SendSignal>(a).empty());
  CHECK(s.stopping());
  CHECK(!only<ArmTimer>(a).empty());  // the kill after --stop-timeout
  CHECK(!only<Log>(a).empty());
  auto b = s.on(ChildExited{100, killed(SIGTERM)});
  CHECK(test::exit_of(b) == 128 + SIGTERM);
}

TEST_CASE("route: --stop-delay: the first stop signal sends nothing") {
  Config c = basic();
  c.stop_delay = Millis{5000};
  Supervisor s = serving(c);
  check_routes(s, "serving with a delay");
  CHECK(routed_count(s, SIGTERM) == 0);
  CHECK(routed_count(s, SIGHUP) == 1);
  s.on(SignalReceived{SIGTERM});
  check_routes(s, "in the delay");
  CHECK(routed_count(s, SIGTERM) == 1);  // a second one cuts it short
}

TEST_CASE("route: --rewrite and --forward-to group") {
  Config c = basic();
  c.rewrite = {{SIGTERM, SIGQUIT}, {SIGHUP, 0}, {SIGWINCH, SIGUSR2}};
  c.forward_to_group = true;
  Supervisor s = serving(c);
  check_routes(s, "rewrites");
  CHECK(routed_count(s, SIGHUP) == 0);  // dropped
  REQUIRE(routed_count(s, SIGTERM) == 1);
  CHECK(s.route(SIGTERM).sends[0].sig == SIGQUIT);
  CHECK(s.route(SIGTERM).sends[0].target == Target::kGroupThenProcess);
  REQUIRE(routed_count(s, SIGWINCH) == 1);
  CHECK(s.route(SIGWINCH).sends[0].sig == SIGUSR2);
}

TEST_CASE("route: workers, a rolling upgrade, and more than fit") {
  Config c = basic();
  c.upgrade_batch = 1;
  Supervisor s = serving(c, 3);
  check_routes(s, "3 workers");
  CHECK(routed_count(s, SIGHUP) == 3);
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{2, 200, "", 0});
  check_routes(s, "batch 1 starting");
  s.on(ChildReady{2, "notify", 0});
  check_routes(s, "batch 1 handed over");
  s.on(ChildExited{100, killed(SIGTERM)});
  check_routes(s, "old worker 0 gone");
  s.on(ChildExited{101, exited(1)});  // an old worker dies meanwhile
  check_routes(s, "old worker 1 died");

  Supervisor many = serving(basic(), SignalRoute::kMax + 1);
  check_routes(many, "more workers than a route holds");
  CHECK(routed_count(many, SIGTERM) == 0);
  CHECK(routed_count(many, SIGHUP) == 0);
}

TEST_CASE("route: waiting for --wait-for, and a restart's back-off") {
  Config w = basic();
  w.wait_for = {"db"};
  Supervisor waiting(w);
  waiting.on(Start{});
  check_routes(waiting, "waiting");
  CHECK(routed_count(waiting, SIGTERM) == 0);

  Config r = basic();
  r.restart = RestartPolicy::kAlways;
  Supervisor s = serving(r);
  s.on(ChildExited{100, exited(3)});
  check_routes(s, "restart back-off");
  CHECK(routed_count(s, SIGTERM) == 0);
  CHECK(routed_count(s, SIGHUP) == 0);
}
