// The core with --workers: a generation is N processes, each replaced,
// signalled, upgraded and counted on its own. Events in, actions out.
#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>

#include "core_test_util.h"
#include "supervisor.h"

using namespace byed;

namespace {

using test::exit_of;
using test::exited;
using test::killed;
using test::only;

std::optional<Millis> armed(const std::vector<Action>& a, TimerKind kind,
                            int gen, int worker) {
  for (const auto& t : only<ArmTimer>(a)) {
    if (t.id == TimerId{kind, gen, worker}) return t.after;
  }
  return std::nullopt;
}

std::vector<int> signalled(const std::vector<Action>& a, int sig) {
  std::vector<int> pids;
  for (const auto& s : only<SendSignal>(a)) {
    if (s.sig == sig) pids.push_back(s.pid);
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

std::vector<std::string> statuses(const std::vector<Action>& a) {
  std::vector<std::string> out;
  for (const auto& n : only<NotifySystemd>(a)) {
    if (!n.status.empty()) out.push_back(n.status);
  }
  return out;
}

Config workers(int n) {
  Config c;
  c.command = {"./srv"};
  c.workers = n;
  c.ready.automatic = false;
  c.ready.message = true;  // each worker says READY=1
  c.ready_settle = Millis{0};
  return c;
}

Now at_ms(int64_t ms) {
  timespec t{};
  t.tv_sec = ms / 1000;
  t.tv_nsec = (ms % 1000) * 1000000;
  return Now(t, ms);
}

// Generation `gen`'s workers spawned as pids base, base+1, ...
std::vector<Action> spawn_all(Supervisor& s, int gen, int n, int base) {
  std::vector<Action> all;
  for (int i = 0; i < n; ++i) {
    auto a = s.on(Spawned{gen, base + i, "", i});
    all.insert(all.end(), a.begin(), a.end());
  }
  return all;
}

std::vector<Action> ready_all(Supervisor& s, int gen, int n, int from = 0) {
  std::vector<Action> all;
  for (int i = from; i < n; ++i) {
    auto a = s.on(ChildReady{gen, "notify", i});
    all.insert(all.end(), a.begin(), a.end());
  }
  return all;
}

// byed with n workers of gen 1 (pids 100...) all ready.
Supervisor serving(const Config& c) {
  Supervisor s(c);
  s.on(Start{});
  spawn_all(s, 1, c.workers, 100);
  ready_all(s, 1, c.workers);
  REQUIRE(phase_name(s.phase()) == std::string("serving"));
  return s;
}

// --upgrade-batch 1 under way: gen 2's worker 0 (200) took over (the old
// worker 0, pid 100, drained), its worker 1 (201) is spawned, not ready.
void first_batch_handed_over(Supervisor& s) {
  s.on(ControlRequest{7, Command::kUpgrade});
  s.on(Spawned{2, 200, "", 0});
  s.on(ChildReady{2, "notify", 0});
  s.on(Spawned{2, 201, "", 1});
}

const StatusView::WorkerView& worker_view(const Supervisor& s, int gen,
                                          int index) {
  static StatusView view;
  view = s.status();
  for (const auto& g : view.generations) {
    if (g.num != gen) continue;
    for (const auto& w : g.workers) {
      if (w.index == index) return w;
    }
  }
  FAIL("no such worker");
  return view.generations.at(0).workers.at(0);
}

}  // namespace

TEST_CASE("workers: N spawned at once; ready when all are") {
  Supervisor s(workers(3));
  auto a = s.on(Start{});
  auto spawns = only<SpawnGeneration>(a);
  REQUIRE(spawns.size() == 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(spawns[i].gen == 1);
    CHECK(spawns[i].worker == i);
    CHECK(spawns[i].workers == 3);  // BYED_WORKERS for its environment
    CHECK(spawns[i].take_terminal == (i == 0));  // one group holds it
    CHECK(armed(a, TimerKind::kReadyTimeout, 1, i).has_value());
  }
  spawn_all(s, 1, 3, 100);
  CHECK(ready_all(s, 1, 2).empty() == false);
  CHECK(phase_name(s.phase()) == std::string("starting"));
  a = s.on(ChildReady{1, "notify", 2});
  CHECK(phase_name(s.phase()) == std::string("serving"));
  auto st = statuses(a);
  CHECK(std::find(st.begin(), st.end(), "3/3 workers ready, gen 1") !=
        st.end());
  // A second READY=1 of one worker changes nothing.
  CHECK(s.on(ChildReady{1, "notify", 1}).empty());
  StatusView v = s.status();
  CHECK(v.workers == 3);
  REQUIRE(v.generations.size() == 1);
  CHECK(v.generations[0].pid == 100);
  REQUIRE(v.generations[0].workers.size() == 3);
  CHECK(v.generations[0].workers[2].pid == 102);
  CHECK(v.generations[0].workers[2].state == "ready");
}

TEST_CASE("workers: without --workers, one process and no BYED_WORKER") {
  Config c = workers(0);
  Supervisor s(c);
  auto spawns = only<SpawnGeneration>(s.on(Start{}));
  REQUIRE(spawns.size() == 1);
  CHECK(spawns[0].workers == 0);
}

TEST_CASE("workers: forwarded and stop signals reach every worker") {
  Supervisor s = serving(workers(3));
  CHECK(signalled(s.on(SignalReceived{SIGHUP}), SIGHUP) ==
        std::vector<int>{100, 101, 102});
  auto a = s.on(SignalReceived{SIGTERM});
  CHECK(signalled(a, SIGTERM) == std::vector<int>{100, 101, 102});
  CHECK_FALSE(exit_of(s.on(ChildExited{101, killed(SIGTERM)})));
  CHECK_FALSE(exit_of(s.on(ChildExited{100, killed(SIGTERM)})));
  // byed ends with the last one's status.
  CHECK(exit_of(s.on(ChildExited{102, exited(7)})) == 7);
}

TEST_CASE("workers: Ctrl-Z stops the whole job, fg continues all of it") {
  Supervisor s(workers(3));
  s.on(Start{true, {}});  // byed has a terminal: worker 0 takes it
  spawn_all(s, 1, 3, 100);
  ready_all(s, 1, 3);
  s.on(ChildStopped{102, SIGSTOP});  // stopped by someone else already
  auto a = s.on(ChildStopped{100, SIGTSTP});
  CHECK(signalled(a, SIGSTOP) == std::vector<int>{101});
  for (const auto& x : only<SendSignal>(a)) {
    CHECK(x.target == Target::kGroupThenProcess);
  }
  CHECK(only<StopSelf>(a).size() == 1);
  auto c = s.on(SignalReceived{SIGCONT});
  CHECK(signalled(c, SIGCONT) == std::vector<int>{100, 101, 102});
  // Stopped by a plain STOP, not the terminal: not the job's stop.
  CHECK(only<SendSignal>(s.on(ChildStopped{101, SIGSTOP})).empty());
}

TEST_CASE("workers: Ctrl-Z in a rolling upgrade stops who forwards reach") {
  Config c = workers(3);
  c.upgrade_batch = 1;
  Supervisor s(c);
  s.on(Start{true, {}});
  spawn_all(s, 1, 3, 100);
  ready_all(s, 1, 3);
  first_batch_handed_over(s);
  auto a = s.on(ChildStopped{101, SIGTSTP});
  // The serving old 2 and the new 0 that took over; not the stopped one,
  // not old 0 on its way out, not new 1 still starting.
  CHECK(signalled(a, SIGSTOP) == std::vector<int>{102, 200});
  CHECK(only<StopSelf>(a).size() == 1);
}

TEST_CASE("workers: one that dies is replaced alone, with its own back-off") {
  Config c = workers(3);
  c.restart = RestartPolicy::kOnFailure;
  Supervisor s = serving(c);
  auto a = s.on(ChildExited{101, exited(1)}, at_ms(1000));
  CHECK(only<SendSignal>(a).empty());  // the others keep serving
  CHECK(only<SpawnGeneration>(a).empty());
  CHECK(armed(a, TimerKind::kRestart, 1, 1) == Millis{100});
  CHECK(worker_view(s, 1, 1).state == "restarting");
  auto st = statuses(a);
  CHECK(std::find(st.begin(), st.end(), "2/3 workers ready, gen 1") !=
        st.end());
  a = s.on(TimerFired{TimerId{TimerKind::kRestart, 1, 1}}, at_ms(1100));
  auto sp = only<SpawnGeneration>(a);
  REQUIRE(sp.size() == 1);
  CHECK(sp[0].gen == 1);  // the same generation, the same index
  CHECK(sp[0].worker == 1);
  CHECK_FALSE(sp[0].take_terminal);
  s.on(Spawned{1, 111, "", 1}, at_ms(1100));
  a = s.on(ChildReady{1, "notify", 1}, at_ms(1200));
  CHECK(worker_view(s, 1, 1).pid == 111);
  CHECK(worker_view(s, 1, 1).state == "ready");
  CHECK(worker_view(s, 1, 1).restarts == 1);
  CHECK(s.status().restarts == 1);
  // It crashes again at once: its back-off doubles; another worker's first
  // crash starts at the first step.
  a = s.on(ChildExited{111, exited(1)}, at_ms(1300));
  CHECK(armed(a, TimerKind::kRestart, 1, 1) == Millis{200});
  a = s.on(ChildExited{102, exited(1)}, at_ms(1300));
  CHECK(armed(a, TimerKind::kRestart, 1, 2) == Millis{100});
  // Signals reach the ones that run.
  CHECK(signalled(s.on(SignalReceived{SIGHUP}), SIGHUP) ==
        std::vector<int>{100});
}

TEST_CASE(
    "workers: the burst limit counts per generation; past it byed "
    "stops with the crash's status") {
  Config c = workers(3);
  c.restart = RestartPolicy::kAlways;
  c.restart_burst = 2;
  Supervisor s = serving(c);
  CHECK(armed(s.on(ChildExited{100, exited(3)}, at_ms(10)), TimerKind::kRestart,
              1, 0));
  CHECK(armed(s.on(ChildExited{101, exited(3)}, at_ms(20)), TimerKind::kRestart,
              1, 1));
  auto a = s.on(ChildExited{102, exited(4)}, at_ms(30));
  CHECK_FALSE(armed(a, TimerKind::kRestart, 1, 2));
  // Nothing else runs: the pending restarts are called off, byed exits.
  CHECK(exit_of(a) == 4);
}

TEST_CASE("workers: --restart no: not replaced; byed ends with the last") {
  Supervisor s = serving(workers(2));
  auto a = s.on(ChildExited{100, exited(5)});
  CHECK(only<ArmTimer>(a).empty());
  CHECK_FALSE(exit_of(a));
  CHECK(signalled(s.on(SignalReceived{SIGHUP}), SIGHUP) ==
        std::vector<int>{101});
  CHECK(exit_of(s.on(ChildExited{101, exited(6)})) == 6);
}

TEST_CASE(
    "workers: a worker that ends while its generation starts is not "
    "waited for (--restart no)") {
  Supervisor s(workers(2));
  s.on(Start{});
  spawn_all(s, 1, 2, 100);
  s.on(ChildExited{101, exited(0)});
  s.on(ChildReady{1, "notify", 0});
  CHECK(phase_name(s.phase()) == std::string("serving"));
  CHECK(exit_of(s.on(ChildExited{100, exited(0)})) == 0);
}

TEST_CASE("workers: an upgrade starts all, drains all once all are ready") {
  Supervisor s = serving(workers(3));
  auto a = s.on(ControlRequest{7, Command::kUpgrade});
  auto sp = only<SpawnGeneration>(a);
  REQUIRE(sp.size() == 3);
  CHECK(sp[2].gen == 2);
  CHECK_FALSE(sp[0].take_terminal);  // the old one serves meanwhile
  spawn_all(s, 2, 3, 200);
  a = ready_all(s, 2, 2);
  CHECK(only<SendSignal>(a).empty());
  a = s.on(ChildReady{2, "notify", 2});
  CHECK(signalled(a, SIGTERM) == std::vector<int>{100, 101, 102});
  auto r = only<ReplyUpgrade>(a);
  REQUIRE(r.size() == 1);
  CHECK(r[0].result.ok);
  CHECK(r[0].result.upgraded == 3);
  CHECK(r[0].result.workers == 3);
  CHECK(s.current() == 2);
  CHECK(signalled(s.on(SignalReceived{SIGHUP}), SIGHUP) ==
        std::vector<int>{200, 201, 202});
}

TEST_CASE("workers: --upgrade-batch 1 rolls one at a time") {
  Config c = workers(3);
  c.upgrade_batch = 1;
  Supervisor s = serving(c);
  auto a = s.on(ControlRequest{7, Command::kUpgrade});
  auto sp = only<SpawnGeneration>(a);
  REQUIRE(sp.size() == 1);
  CHECK(sp[0].worker == 0);
  s.on(Spawned{2, 200, "", 0});
  a = s.on(ChildReady{2, "notify", 0});
  // New 0 took over: old 0 drained, new 1 started; the old 1 and 2 serve.
  CHECK(signalled(a, SIGTERM) == std::vector<int>{100});
  sp = only<SpawnGeneration>(a);
  REQUIRE(sp.size() == 1);
  CHECK(sp[0].worker == 1);
  CHECK(s.upgrading() == 2);
  // Forwarded signals reach the serving old ones and the new one that
  // took over, not the one still starting.
  s.on(Spawned{2, 201, "", 1});
  CHECK(signalled(s.on(SignalReceived{SIGHUP}), SIGHUP) ==
        std::vector<int>{101, 102, 200});
  a = s.on(ChildReady{2, "notify", 1});
  CHECK(signalled(a, SIGTERM) == std::vector<int>{101});
  s.on(Spawned{2, 202, "", 2});
  a = s.on(ChildReady{2, "notify", 2});
  CHECK(signalled(a, SIGTERM) == std::vector<int>{102});
  REQUIRE(only<ReplyUpgrade>(a).size() == 1);
  CHECK(only<ReplyUpgrade>(a)[0].result.ok);
  CHECK(s.current() == 2);
  CHECK(s.upgrading() == 0);
}

TEST_CASE(
    "workers: a failing batch stops the upgrade; the old ones left "
    "serve; the answer says how far it came") {
  Config c = workers(3);
  c.upgrade_batch = 1;
  Supervisor s = serving(c);
  first_batch_handed_over(s);
  auto a = s.on(ChildExited{201, exited(3)});
  auto r = only<ReplyUpgrade>(a);
  REQUIRE(r.size() == 1);
  CHECK_FALSE(r[0].result.ok);
  CHECK(r[0].result.upgraded == 1);
  CHECK(r[0].result.reason.find("1/3 workers upgraded") != std::string::npos);
  // The new one that took over is stopped; the old 1 and 2 are untouched.
  CHECK(signalled(a, SIGTERM) == std::vector<int>{200});
  CHECK(s.current() == 1);
  CHECK(phase_name(s.phase()) == std::string("serving"));
  CHECK(signalled(s.on(SignalReceived{SIGHUP}), SIGHUP) ==
        std::vector<int>{101, 102});
}

TEST_CASE(
    "workers: byed ctl workers grows, answering once all are ready, "
    "and shrinks from the top") {
  Supervisor s = serving(workers(2));
  auto a = s.on(ControlRequest{9, Command::kWorkers, 4});
  auto sp = only<SpawnGeneration>(a);
  REQUIRE(sp.size() == 2);
  CHECK(sp[0].worker == 2);
  CHECK(sp[1].worker == 3);
  CHECK(sp[1].workers == 4);
  CHECK(only<ReplyWorkers>(a).empty());
  s.on(Spawned{1, 102, "", 2});
  s.on(Spawned{1, 103, "", 3});
  CHECK(only<ReplyWorkers>(s.on(ChildReady{1, "notify", 2})).empty());
  a = s.on(ChildReady{1, "notify", 3});
  REQUIRE(only<ReplyWorkers>(a).size() == 1);
  CHECK(only<ReplyWorkers>(a)[0].workers == 4);
  // Shrinking drains the highest indexes; the answer comes at once.
  a = s.on(ControlRequest{10, Command::kWorkers, 1});
  CHECK(signalled(a, SIGTERM) == std::vector<int>{101, 102, 103});
  REQUIRE(only<ReplyWorkers>(a).size() == 1);
  CHECK(s.status().workers == 1);
  // Drained ones that exit are no failure and no restart.
  CHECK(s.on(ChildExited{103, killed(SIGTERM)}).size() <= 3);
  CHECK(signalled(s.on(SignalReceived{SIGHUP}), SIGHUP) ==
        std::vector<int>{100});
}

TEST_CASE("workers: byed ctl workers is refused where it cannot apply") {
  Config plain = workers(1);
  plain.workers = 0;
  Supervisor p(plain);
  p.on(Start{});
  p.on(Spawned{1, 100, ""});
  auto e = only<ReplyError>(p.on(ControlRequest{1, Command::kWorkers, 2}));
  REQUIRE(e.size() == 1);
  CHECK(e[0].message.find("--workers") != std::string::npos);

  Supervisor s = serving(workers(2));
  CHECK(
      only<ReplyError>(s.on(ControlRequest{1, Command::kWorkers, 0})).size() ==
      1);
  s.on(ControlRequest{2, Command::kUpgrade});  // in flight
  CHECK(
      only<ReplyError>(s.on(ControlRequest{3, Command::kWorkers, 3})).size() ==
      1);
}

TEST_CASE(
    "workers: a replacement not ready in time is stopped, then tried "
    "again") {
  Config c = workers(2);
  c.restart = RestartPolicy::kOnFailure;
  Supervisor s = serving(c);
  s.on(ChildExited{101, exited(1)}, at_ms(0));
  s.on(TimerFired{TimerId{TimerKind::kRestart, 1, 1}}, at_ms(100));
  s.on(Spawned{1, 111, "", 1}, at_ms(100));
  auto a =
      s.on(TimerFired{TimerId{TimerKind::kReadyTimeout, 1, 1}}, at_ms(60100));
  CHECK(signalled(a, SIGTERM) == std::vector<int>{111});
  CHECK(phase_name(s.phase()) == std::string("serving"));  // 100 serves
  // It exits 0 on TERM, yet it failed: on-failure tries again.
  a = s.on(ChildExited{111, exited(0)}, at_ms(60200));
  CHECK(armed(a, TimerKind::kRestart, 1, 1).has_value());
}

TEST_CASE("workers: what a worker leaves behind is waited for, by worker") {
  Supervisor s = serving(workers(2));
  s.on(SignalReceived{SIGTERM});
  auto a = s.on(ChildExited{101, killed(SIGTERM), true});
  auto w = only<WatchGroup>(a);
  REQUIRE(w.size() == 1);
  CHECK(w[0].worker == 1);
  CHECK(w[0].pgid == 101);
  CHECK_FALSE(exit_of(s.on(ChildExited{100, killed(SIGTERM)})));
  CHECK(exit_of(s.on(GroupEmpty{1, 1})) == 143);
}

TEST_CASE(
    "workers: ctl workers refills what a failed rolling upgrade "
    "drained, without waiting for the drained ones to exit") {
  Config c = workers(2);
  c.upgrade_batch = 1;
  Supervisor s = serving(c);
  first_batch_handed_over(s);
  s.on(ChildExited{201, exited(3)});  // the upgrade fails; 101 serves
  auto a = s.on(ControlRequest{8, Command::kWorkers, 2});  // 100 still runs
  auto sp = only<SpawnGeneration>(a);
  REQUIRE(sp.size() == 1);
  CHECK(sp[0].gen == 1);
  CHECK(sp[0].worker == 0);
  s.on(Spawned{1, 110, "", 0});
  a = s.on(ChildReady{1, "notify", 0});
  REQUIRE(only<ReplyWorkers>(a).size() == 1);
  // The drained one ends as drained: no restart, no exit.
  a = s.on(ChildExited{100, killed(SIGTERM)});
  CHECK(only<ArmTimer>(a).empty());
  CHECK_FALSE(exit_of(a));
  CHECK(signalled(s.on(SignalReceived{SIGHUP}), SIGHUP) ==
        std::vector<int>{101, 110});
}

TEST_CASE(
    "workers: ctl workers answers with an error when a new worker "
    "ends before it is ready and is not replaced") {
  Supervisor s = serving(workers(2));  // --restart no
  s.on(ControlRequest{9, Command::kWorkers, 3});
  s.on(Spawned{1, 102, "", 2});
  auto a = s.on(ChildExited{102, exited(3)});
  auto e = only<ReplyError>(a);
  REQUIRE(e.size() == 1);
  CHECK(e[0].conn == 9);
  CHECK(e[0].message.find("worker 2") != std::string::npos);
  CHECK(only<ReplyWorkers>(a).empty());
  CHECK_FALSE(exit_of(a));  // the other two serve on
}

TEST_CASE(
    "workers: one forked after ctl workers lowered the count is "
    "drained as it appears") {
  Supervisor s = serving(workers(2));
  s.on(ControlRequest{9, Command::kWorkers, 3});  // worker 2 forking
  s.on(ControlRequest{10, Command::kWorkers, 2});
  auto a = s.on(Spawned{1, 102, "", 2});
  CHECK(signalled(a, SIGTERM) == std::vector<int>{102});
  CHECK(signalled(s.on(SignalReceived{SIGHUP}), SIGHUP) ==
        std::vector<int>{100, 101});
  a = s.on(ChildExited{102, killed(SIGTERM)});
  CHECK(only<ArmTimer>(a).empty());
  CHECK_FALSE(exit_of(a));
}
