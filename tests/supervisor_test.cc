// The pure core: events in, actions out, no process started.
#include "supervisor.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>

#include "core_test_util.h"

using namespace byed;

namespace {

using test::exit_of;
using test::exited;
using test::killed;
using test::only;

bool cancels(const std::vector<Action>& actions, TimerKind kind) {
  for (const auto& c : only<CancelTimer>(actions)) {
    if (c.id.kind == kind) return true;
  }
  return false;
}

Config options(Millis stop_timeout, const std::string& program) {
  Config c;
  c.command = {program};
  c.stop_timeout = stop_timeout;
  c.upgrade_signal = SIGUSR1;
  c.pidfile = "/run/srv.pid";  // WritePidfile marks the first ready
  return c;
}

Supervisor started(int pid = 100, Millis stop_timeout = Millis{30000}) {
  Supervisor s(options(stop_timeout, "./server"));
  auto a = s.on(Start{});
  REQUIRE(only<SpawnGeneration>(a).size() == 1);
  s.on(Spawned{1, pid, ""});
  return s;
}

}  // namespace

TEST_CASE("wait status maps to the shell's exit code") {
  CHECK(exit_code_from_wait_status(exited(0)) == 0);
  CHECK(exit_code_from_wait_status(exited(3)) == 3);
  CHECK(exit_code_from_wait_status(exited(255)) == 255);
  CHECK(exit_code_from_wait_status(killed(SIGTERM)) == 143);
  CHECK(exit_code_from_wait_status(killed(SIGKILL)) == 137);
  CHECK(describe_wait_status(killed(SIGTERM)) == "killed by signal TERM");
  CHECK(describe_wait_status(exited(4)) == "exit code 4");
}

TEST_CASE("start spawns generation 1 exactly once") {
  Supervisor s(options(Millis{1000}, "x"));
  auto a = s.on(Start{});
  auto spawn = only<SpawnGeneration>(a);
  REQUIRE(spawn.size() == 1);
  CHECK(spawn[0].gen == 1);
  CHECK(only<SpawnGeneration>(s.on(Start{})).empty());
}

TEST_CASE("the child's exit code is byed's") {
  for (int code : {0, 1, 2, 42, 127, 255}) {
    auto s = started();
    CHECK(exit_of(s.on(ChildExited{100, exited(code)})) == code);
    CHECK(s.exited());
  }
  auto s = started();
  CHECK(exit_of(s.on(ChildExited{100, killed(SIGSEGV)})) == 128 + SIGSEGV);
}

TEST_CASE("orphans are reaped quietly and do not end byed") {
  auto s = started();
  auto a = s.on(ChildExited{555, exited(0)});
  CHECK_FALSE(exit_of(a));
  CHECK(only<SendSignal>(a).empty());
  CHECK(exit_of(s.on(ChildExited{100, exited(7)})) == 7);
}

TEST_CASE("stop signals are forwarded, arm the kill timer once, and repeat") {
  auto s = started();
  auto a = s.on(SignalReceived{SIGTERM});
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].pid == 100);
  CHECK(sent[0].sig == SIGTERM);
  auto timers = only<ArmTimer>(a);
  REQUIRE(timers.size() == 1);
  CHECK(timers[0].after == Millis{30000});
  CHECK(s.stopping());

  // The same signal again is forwarded again; the timer is not re-armed.
  a = s.on(SignalReceived{SIGTERM});
  CHECK(only<SendSignal>(a).size() == 1);
  CHECK(only<ArmTimer>(a).empty());
  a = s.on(SignalReceived{SIGINT});
  REQUIRE(only<SendSignal>(a).size() == 1);
  CHECK(only<SendSignal>(a)[0].sig == SIGINT);

  // The child dies of TERM: 143, and the timer is cancelled.
  a = s.on(ChildExited{100, killed(SIGTERM)});
  CHECK(exit_of(a) == 143);
  CHECK(cancels(a, TimerKind::kStopKill));
}

TEST_CASE("stop timeout sends SIGKILL to the generation's group") {
  auto s = started(100, Millis{1000});
  s.on(SignalReceived{SIGQUIT});
  auto a = s.on(TimerFired{TimerId{TimerKind::kStopKill, 0}});
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].pid == 100);
  CHECK(sent[0].sig == SIGKILL);
  CHECK(sent[0].target == Target::kGroupThenProcess);
  CHECK(exit_of(s.on(ChildExited{100, killed(SIGKILL)})) == 137);
}

TEST_CASE("stop timeout 0 never arms a timer") {
  auto s = started(100, Millis{0});
  auto a = s.on(SignalReceived{SIGTERM});
  CHECK(only<ArmTimer>(a).empty());
  CHECK(only<SendSignal>(a).size() == 1);
  CHECK_FALSE(cancels(s.on(ChildExited{100, exited(0)}), TimerKind::kStopKill));
}

TEST_CASE("other signals go to the current generation unchanged") {
  auto s = started();
  for (int sig : {SIGHUP, SIGUSR2, SIGWINCH, SIGALRM, SIGURG, SIGRTMIN}) {
    CAPTURE(sig);
    auto sent = only<SendSignal>(s.on(SignalReceived{sig}));
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].pid == 100);
    CHECK(sent[0].sig == sig);
    CHECK(sent[0].target == Target::kProcess);
  }
  CHECK_FALSE(s.stopping());
}

TEST_CASE("job control: TSTP/TTIN/TTOU stop the program, then byed") {
  for (int sig : {SIGTSTP, SIGTTIN, SIGTTOU}) {
    CAPTURE(sig);
    // In a terminal the program is in byed's session: it gets the signal.
    Supervisor s(options(Millis{30000}, "./server"));
    auto sp = only<SpawnGeneration>(s.on(Start{true, {}}));
    REQUIRE(sp.size() == 1);
    CHECK_FALSE(sp[0].new_session);
    s.on(Spawned{1, 100, ""});
    auto a = s.on(SignalReceived{sig});
    auto sent = only<SendSignal>(a);
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].sig == sig);
    CHECK(sent[0].target == Target::kGroupThenProcess);
    REQUIRE(only<StopSelf>(a).size() == 1);
    // StopSelf comes after the program was told.
    CHECK(std::holds_alternative<StopSelf>(a.back()));
    CHECK_FALSE(s.stopping());
    // Without a terminal each generation has a session of its own, an
    // orphaned group that TSTP cannot stop: it gets STOP, then byed stops.
    auto n = started();
    a = n.on(SignalReceived{sig});
    sent = only<SendSignal>(a);
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].sig == SIGSTOP);
    CHECK(sent[0].target == Target::kGroupThenProcess);
    CHECK(std::holds_alternative<StopSelf>(a.back()));
  }
  Supervisor s(options(Millis{30000}, "./server"));
  auto sp = only<SpawnGeneration>(s.on(Start{false, {}}));
  REQUIRE(sp.size() == 1);
  CHECK(sp[0].new_session);
}

TEST_CASE("job control: the program stopped by the terminal stops byed") {
  auto s = started();
  for (int sig : {SIGTSTP, SIGTTIN, SIGTTOU}) {
    CHECK(only<StopSelf>(s.on(ChildStopped{100, sig})).size() == 1);
  }
  // Stopped by someone's SIGSTOP (a debugger): not the job's business.
  CHECK(s.on(ChildStopped{100, SIGSTOP}).empty());
  // An orphan stopped: nothing.
  CHECK(s.on(ChildStopped{555, SIGTSTP}).empty());
}

TEST_CASE(
    "job control: CONT gives the terminal back, then continues the group") {
  auto s = started();
  auto a = s.on(SignalReceived{SIGCONT});
  REQUIRE(a.size() >= 2);
  auto give = only<GiveTerminal>(a);
  REQUIRE(give.size() == 1);
  CHECK(give[0].pgid == 100);
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].sig == SIGCONT);
  CHECK(sent[0].target == Target::kGroupThenProcess);
  CHECK(std::holds_alternative<GiveTerminal>(a[0]));
}

TEST_CASE("the upgrade signal is never forwarded and never stops") {
  auto s = started();
  auto a = s.on(SignalReceived{SIGUSR1});
  CHECK(only<SendSignal>(a).empty());
  CHECK_FALSE(exit_of(a));
  CHECK_FALSE(s.stopping());
  CHECK(only<Log>(a).size() == 1);
}

TEST_CASE("CHLD is the shell's business") {
  auto s = started();
  CHECK(s.on(SignalReceived{SIGCHLD}).empty());
}

TEST_CASE("exec failure is logged; the child's 127 becomes byed's") {
  Supervisor s(options(Millis{1000}, "./nope"));
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  auto a = s.on(Exec{1, "cannot run './nope': No such file"});
  auto logs = only<Log>(a);
  REQUIRE(logs.size() == 1);
  CHECK(logs[0].record.level == LogLevel::kError);
  CHECK(exit_of(s.on(ChildExited{100, exited(127)})) == 127);
}

TEST_CASE("fork failure ends byed with 1") {
  Supervisor s(options(Millis{1000}, "x"));
  s.on(Start{});
  CHECK(exit_of(s.on(
            Spawned{1, -1, "fork: Resource temporarily unavailable"})) == 1);
}

TEST_CASE("nothing happens after exit") {
  auto s = started();
  s.on(ChildExited{100, exited(0)});
  CHECK(s.on(SignalReceived{SIGTERM}).empty());
  CHECK(s.on(ChildExited{101, exited(0)}).empty());
}

// ---- EXIT_DIR ---------------------------------------------------------------

namespace {

Supervisor group_member(bool leader, bool follower) {
  Config o = options(Millis{5000}, "./srv");
  o.exit_dir = "/exit";
  o.exit_leader = leader;
  o.exit_follower = follower;
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  return s;
}

}  // namespace

TEST_CASE("follower: an entry stops the child like TERM; TERM death exits 0") {
  auto s = group_member(false, true);
  auto a = s.on(ExitDirEntry{"main.exit"});
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].sig == SIGTERM);
  CHECK(only<ArmTimer>(a).size() == 1);
  // A second entry does not stop twice.
  CHECK(only<SendSignal>(s.on(ExitDirEntry{"other"})).empty());
  CHECK(exit_of(s.on(ChildExited{100, killed(SIGTERM)})) == 0);
}

TEST_CASE("follower: a code the child chose passes through") {
  auto s = group_member(false, true);
  s.on(ExitDirEntry{"main.exit"});
  CHECK(exit_of(s.on(ChildExited{100, exited(5)})) == 5);
  auto k = group_member(false, true);
  k.on(ExitDirEntry{"main.exit"});
  k.on(TimerFired{TimerId{TimerKind::kStopKill, 0}});
  CHECK(exit_of(k.on(ChildExited{100, killed(SIGKILL)})) == 137);
}

TEST_CASE("follower: an entry present before start means no child at all") {
  Config o = options(Millis{5000}, "./srv");
  o.exit_dir = "/exit";
  o.exit_follower = true;
  o.exit_leader = true;
  Supervisor s(o);
  s.on(ExitDirEntry{"main.exit"});
  auto a = s.on(Start{});
  CHECK(only<SpawnGeneration>(a).empty());
  CHECK(only<WriteExitMarker>(a).empty());
  CHECK(exit_of(a) == 0);
}

TEST_CASE("entries mean nothing to a leader-only member") {
  auto s = group_member(true, false);
  CHECK(s.on(ExitDirEntry{"x"}).empty());
  CHECK_FALSE(s.stopping());
}

TEST_CASE("leader: a marker for every end but an exit-dir stop") {
  auto s = group_member(true, true);
  auto a = s.on(ChildExited{100, exited(3)});
  auto m = only<WriteExitMarker>(a);
  REQUIRE(m.size() == 1);
  CHECK(m[0].pid == 100);
  CHECK(m[0].gen == 1);
  CHECK(WEXITSTATUS(m[0].wait_status) == 3);
  // The marker comes before the exit.
  CHECK(std::holds_alternative<ExitProcess>(a.back()));

  auto t = group_member(true, true);
  t.on(SignalReceived{SIGTERM});
  CHECK(only<WriteExitMarker>(t.on(ChildExited{100, killed(SIGTERM)})).size() ==
        1);

  auto f = group_member(true, true);
  f.on(ExitDirEntry{"main.exit"});
  CHECK(only<WriteExitMarker>(f.on(ChildExited{100, killed(SIGTERM)})).empty());

  auto none = group_member(false, true);
  CHECK(only<WriteExitMarker>(none.on(ChildExited{100, exited(0)})).empty());
}

// ---- readiness and upgrades -------------------------------------------------

namespace {

enum class ReadyMode { kAuto, kMessage, kDelay };

Config upgrade_options(ReadyMode mode = ReadyMode::kMessage) {
  Config o = options(Millis{5000}, "./srv");
  o.ready.automatic = mode == ReadyMode::kAuto;
  o.ready.message = mode == ReadyMode::kMessage;
  if (mode == ReadyMode::kDelay) o.ready.alive = Millis{1000};
  o.ready_timeout = Millis{60000};
  return o;
}

// Gen 1 started as pid 100 and ready via the pipe.
Supervisor serving(ReadyMode mode = ReadyMode::kMessage) {
  Supervisor s(upgrade_options(mode));
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  s.on(ChildReady{1, "pipe"});
  REQUIRE(s.current() == 1);
  return s;
}

// An upgrade to generation `gen` (pid `pid`) that succeeds: the old one
// is draining afterwards.
void take_over(Supervisor& s, int gen, int pid) {
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{gen, pid, ""});
  s.on(ChildReady{gen, "pipe"});
}

bool arms(const std::vector<Action>& a, TimerKind kind, int gen) {
  for (const auto& t : only<ArmTimer>(a)) {
    if (t.id.kind == kind && t.id.gen == gen) return true;
  }
  return false;
}

// What the shell would send, less the lines only it adds (MAINPID=, ...).
std::vector<std::string> notes(const std::vector<Action>& a) {
  std::vector<std::string> out;
  for (const auto& n : only<NotifySystemd>(a)) {
    const char* state = notify_state_line(n.state);
    std::string s = state ? state : "";
    if (!n.status.empty())
      s += (s.empty() ? "" : "\n") + ("STATUS=" + n.status);
    out.push_back(s);
  }
  return out;
}

}  // namespace

TEST_CASE("first ready: pidfile, READY=1, and timers by mode") {
  Supervisor s(upgrade_options(ReadyMode::kMessage));
  auto a = s.on(Start{});
  CHECK(arms(a, TimerKind::kReadyTimeout, 1));
  CHECK_FALSE(arms(a, TimerKind::kReadyDelay, 1));  // message: no clock
  s.on(Spawned{1, 100, ""});
  a = s.on(ChildReady{1, "notify"});
  CHECK(only<WritePidfile>(a).size() == 1);
  REQUIRE(notes(a).size() == 1);
  CHECK(notes(a)[0].rfind("READY=1\nSTATUS=gen 1 ready (pid 100)", 0) == 0);
  CHECK(cancels(a, TimerKind::kReadyTimeout));
  // A second message changes nothing.
  CHECK(only<WritePidfile>(s.on(ChildReady{1, "pipe"})).empty());

  Supervisor d(upgrade_options(ReadyMode::kDelay));
  // The clock starts when the program runs, not at fork: a slow exec is not
  // time spent alive.
  CHECK_FALSE(arms(d.on(Start{}), TimerKind::kReadyDelay, 1));
  CHECK_FALSE(arms(d.on(Spawned{1, 100, ""}), TimerKind::kReadyDelay, 1));
  CHECK(arms(d.on(Exec{1, ""}), TimerKind::kReadyDelay, 1));
  a = d.on(TimerFired{TimerId{TimerKind::kReadyDelay, 1}});
  CHECK(only<WritePidfile>(a).size() == 1);
}

TEST_CASE("auto: time counts only until some generation sends a message") {
  Supervisor s(upgrade_options(ReadyMode::kAuto));
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  CHECK(arms(s.on(Exec{1, ""}), TimerKind::kReadyDelay, 1));
  s.on(ChildReady{1, "pipe"});  // gen 1 speaks the protocol
  auto a = s.on(SignalReceived{SIGUSR1});
  CHECK(only<SpawnGeneration>(a).size() == 1);
  s.on(Spawned{2, 200, ""});
  CHECK_FALSE(
      arms(s.on(Exec{2, ""}), TimerKind::kReadyDelay, 2));  // must speak
  // Even a stale delay timer does not make it ready.
  CHECK(s.on(TimerFired{TimerId{TimerKind::kReadyDelay, 2}}).empty());
  CHECK(s.upgrading() == 2);

  Supervisor q(upgrade_options(ReadyMode::kAuto));
  q.on(Start{});
  q.on(Spawned{1, 100, ""});
  a = q.on(TimerFired{TimerId{TimerKind::kReadyDelay, 1}});
  CHECK(only<WritePidfile>(a).size() == 1);  // silent program: 1 s alive
}

TEST_CASE("upgrade: RELOADING, spawn, then drain old and READY on ready") {
  auto s = serving();
  auto a = s.on(SignalReceived{SIGUSR1});
  REQUIRE(notes(a).size() == 1);
  CHECK(notes(a)[0].rfind("RELOADING=1", 0) == 0);
  auto sp = only<SpawnGeneration>(a);
  REQUIRE(sp.size() == 1);
  CHECK(sp[0].gen == 2);
  CHECK(only<SendSignal>(a).empty());  // never forwarded
  CHECK(s.current() == 1);

  // Signals still go to the old generation until the new one is ready.
  s.on(Spawned{2, 200, ""});
  auto fw = only<SendSignal>(s.on(SignalReceived{SIGHUP}));
  REQUIRE(fw.size() == 1);
  CHECK(fw[0].pid == 100);

  a = s.on(ChildReady{2, "pipe"});
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].pid == 100);
  CHECK(sent[0].sig == SIGTERM);  // --drain-signal default
  CHECK(arms(a, TimerKind::kDrainKill, 1));
  CHECK(notes(a).at(0).rfind("READY=1\nSTATUS=gen 2 ready (pid 200)", 0) == 0);
  REQUIRE(s.status().last_upgrade.has_value());
  CHECK(s.status().last_upgrade->ok);
  CHECK(s.status().last_upgrade->pid == 200);
  CHECK(s.current() == 2);
  CHECK(only<WritePidfile>(a).empty());  // byed's pid did not change

  fw = only<SendSignal>(s.on(SignalReceived{SIGHUP}));
  REQUIRE(fw.size() == 1);
  CHECK(fw[0].pid == 200);

  // The old one drains and goes; byed carries on.
  a = s.on(ChildExited{100, exited(0)});
  CHECK_FALSE(exit_of(a));
  CHECK(cancels(a, TimerKind::kDrainKill));
  // A drain that takes too long ends in SIGKILL (checked on a fresh upgrade).
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{3, 300, ""});
  s.on(ChildReady{3, "notify"});
  sent = only<SendSignal>(s.on(TimerFired{TimerId{TimerKind::kDrainKill, 2}}));
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].pid == 200);
  CHECK(sent[0].sig == SIGKILL);
}

TEST_CASE("custom drain signal") {
  auto o = upgrade_options();
  o.drain_signal = SIGQUIT;
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  s.on(ChildReady{1, "pipe"});
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{2, 200, ""});
  auto sent = only<SendSignal>(s.on(ChildReady{2, "pipe"}));
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].pid == 100);
  CHECK(sent[0].sig == SIGQUIT);
}

TEST_CASE("rollback: new generation dies before ready, old untouched") {
  auto s = serving();
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{2, 200, ""});
  auto a = s.on(ChildExited{200, exited(1)});
  CHECK(only<SendSignal>(a).empty());  // the old one is not touched
  CHECK_FALSE(exit_of(a));
  REQUIRE(s.status().last_upgrade.has_value());
  CHECK_FALSE(s.status().last_upgrade->ok);
  CHECK(s.status().last_upgrade->reason ==
        "exited before it was ready (exit code 1)");
  REQUIRE(notes(a).size() == 1);
  CHECK(notes(a)[0] ==
        "READY=1\nSTATUS=upgrade failed: exited before it was ready (exit "
        "code 1)");
  CHECK(s.current() == 1);
  CHECK(s.upgrading() == 0);
  REQUIRE(s.status().last_upgrade.has_value());
  CHECK_FALSE(s.status().last_upgrade->ok);
}

TEST_CASE("rollback: exec failure names the reason") {
  auto s = serving();
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{2, 200, ""});
  s.on(Exec{2, "cannot run './srv': No such file or directory"});
  s.on(ChildExited{200, exited(127)});
  REQUIRE(s.status().last_upgrade.has_value());
  CHECK(s.status().last_upgrade->reason ==
        "cannot run './srv': No such file or directory");
}

TEST_CASE("rollback: fork failure") {
  auto s = serving();
  s.on(SignalReceived{SIGUSR1});
  auto a = s.on(Spawned{2, -1, "fork: Resource temporarily unavailable"});
  REQUIRE(s.status().last_upgrade.has_value());
  CHECK_FALSE(s.status().last_upgrade->ok);
  CHECK_FALSE(exit_of(a));
  CHECK(s.current() == 1);
}

TEST_CASE("rollback: not ready in time -> TERM the new one, keep the old") {
  auto s = serving();
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{2, 200, ""});
  auto a = s.on(TimerFired{TimerId{TimerKind::kReadyTimeout, 2}});
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].pid == 200);
  CHECK(sent[0].sig == SIGTERM);
  CHECK(arms(a, TimerKind::kDrainKill, 2));
  CHECK(s.status().last_upgrade->reason == "not ready within 1m");
  // Ready too late: ignored.
  CHECK(only<SendSignal>(s.on(ChildReady{2, "pipe"})).empty());
  CHECK(s.current() == 1);
  CHECK_FALSE(exit_of(s.on(ChildExited{200, killed(SIGTERM)})));
}

TEST_CASE("first generation not ready in time: stop, exit 1") {
  Supervisor s(upgrade_options());
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  auto a = s.on(TimerFired{TimerId{TimerKind::kReadyTimeout, 1}});
  CHECK(only<SendSignal>(a).size() == 1);
  CHECK(exit_of(s.on(ChildExited{100, killed(SIGTERM)})) == 1);
}

TEST_CASE("first generation that ends before ready passes its status on") {
  Supervisor s(upgrade_options());
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  CHECK(exit_of(s.on(ChildExited{100, exited(0)})) == 0);
}

TEST_CASE("coalescing: a storm of upgrade requests runs at most one more") {
  auto s = serving();
  int spawned = static_cast<int>(
      only<SpawnGeneration>(s.on(SignalReceived{SIGUSR1})).size());
  for (int i = 0; i < 1000; ++i) {
    spawned += static_cast<int>(
        only<SpawnGeneration>(s.on(SignalReceived{SIGUSR1})).size());
    spawned += static_cast<int>(
        only<SpawnGeneration>(s.on(ControlRequest{1, Command::kUpgrade}))
            .size());
  }
  CHECK(spawned == 1);
  s.on(Spawned{2, 200, ""});
  auto a = s.on(ChildReady{2, "pipe"});
  auto sp = only<SpawnGeneration>(a);
  REQUIRE(sp.size() == 1);  // the one coalesced request
  CHECK(sp[0].gen == 3);
  s.on(Spawned{3, 300, ""});
  CHECK(only<SpawnGeneration>(s.on(ChildReady{3, "pipe"})).empty());
}

TEST_CASE("an upgrade asked for before the first ready waits for it") {
  Supervisor s(upgrade_options());
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  CHECK(only<SpawnGeneration>(s.on(SignalReceived{SIGUSR1})).empty());
  auto sp = only<SpawnGeneration>(s.on(ChildReady{1, "pipe"}));
  REQUIRE(sp.size() == 1);
  CHECK(sp[0].gen == 2);
}

TEST_CASE("stop during an upgrade stops every generation") {
  auto s = serving();
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{2, 200, ""});
  auto a = s.on(SignalReceived{SIGTERM});
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 2);
  CHECK(notes(a).at(0) == "STOPPING=1");
  CHECK(s.status().last_upgrade->reason == "byed is stopping");
  CHECK(s.upgrading() == 0);
  // Late readiness of the new one hands nothing over.
  CHECK(only<SendSignal>(s.on(ChildReady{2, "pipe"})).empty());
  // No upgrade starts while stopping.
  CHECK(only<SpawnGeneration>(s.on(SignalReceived{SIGUSR1})).empty());
  CHECK_FALSE(exit_of(s.on(ChildExited{200, killed(SIGTERM)})));
  CHECK(exit_of(s.on(ChildExited{100, killed(SIGTERM)})) == 143);
}

TEST_CASE("the serving generation dying mid-upgrade: the new one takes over") {
  // Even with --restart no (the default): the OOM killer taking gen 1 while
  // gen 2 starts must not turn the upgrade into an outage.
  auto s = serving();
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{2, 200, ""});
  auto a = s.on(ChildExited{100, killed(SIGKILL)});
  CHECK(only<SendSignal>(a).empty());
  CHECK_FALSE(exit_of(a));
  a = s.on(ChildReady{2, "pipe"});
  CHECK(s.current() == 2);
  CHECK(only<WritePidfile>(a).empty());
  CHECK_FALSE(exit_of(a));
  // It serves: its own end is byed's.
  CHECK(exit_of(s.on(ChildExited{200, exited(4)})) == 4);

  // If the new one then fails too, byed exits with the serving one's status.
  auto f = serving();
  f.on(SignalReceived{SIGUSR1});
  f.on(Spawned{2, 200, ""});
  CHECK_FALSE(exit_of(f.on(ChildExited{100, exited(3)})));
  CHECK(exit_of(f.on(ChildExited{200, exited(1)})) == 3);
}

TEST_CASE("Ctrl-C on byed's terminal is a stop, never a crash to restart") {
  for (int sig : {SIGINT, SIGQUIT}) {
    CAPTURE(sig);
    auto o = options(Millis{30000}, "./server");
    o.restart = byed::RestartPolicy::kAlways;
    Supervisor s(o);
    s.on(Start{true, {}});
    s.on(Spawned{1, 100, ""});
    ChildExited e{100, killed(sig)};
    e.had_terminal = true;
    auto a = s.on(e);
    CHECK_FALSE(arms(a, TimerKind::kRestart, 0));
    CHECK(exit_of(a) == 128 + sig);
    // With something left behind, the same signal stops it: a stop, as the
    // user asked.
    Supervisor l(o);
    l.on(Start{true, {}});
    l.on(Spawned{1, 100, ""});
    e.children_left = true;
    a = l.on(e);
    CHECK(l.stopping());
    auto orphans = only<SignalOrphans>(a);
    REQUIRE(orphans.size() == 1);
    CHECK(orphans[0].sig == sig);
    CHECK_FALSE(arms(a, TimerKind::kRestart, 0));
    // The same signal from elsewhere (kill -INT of the program) is a crash.
    Supervisor r(o);
    r.on(Start{true, {}});
    r.on(Spawned{1, 100, ""});
    a = r.on(ChildExited{100, killed(sig)});
    CHECK(arms(a, TimerKind::kRestart, 0));
  }
}

TEST_CASE("--success-status is no failure for --restart on-failure") {
  auto o = options(Millis{30000}, "./server");
  o.restart = byed::RestartPolicy::kOnFailure;
  o.success_status = {3, 128 + SIGTERM};
  for (int status : {exited(0), exited(3), killed(SIGTERM)}) {
    CAPTURE(status);
    Supervisor s(o);
    s.on(Start{});
    s.on(Spawned{1, 100, ""});
    auto a = s.on(ChildExited{100, status});
    CHECK_FALSE(arms(a, TimerKind::kRestart, 0));
    CHECK(exit_of(a) == 0);
  }
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  CHECK(arms(s.on(ChildExited{100, exited(4)}), TimerKind::kRestart, 0));
}

TEST_CASE("a rewrite to a signal that stays ignored is said at start") {
  auto o = options(Millis{30000}, "./server");
  o.rewrite = {{SIGTERM, SIGQUIT}, {SIGHUP, SIGUSR2}};
  Supervisor s(o);
  auto logs = only<Log>(s.on(Start{false, {SIGQUIT, SIGINT}}));
  int warned = 0;
  for (const auto& l : logs) {
    if (l.record.level == LogLevel::kWarn) {
      ++warned;
      CHECK(l.record.message.find("--rewrite TERM:QUIT sends QUIT") == 0);
    }
  }
  CHECK(warned == 1);
}

TEST_CASE("generations that are gone are forgotten: no growth over upgrades") {
  auto s = serving();
  int pid = 100;
  for (int gen = 2; gen <= 1000; ++gen) {
    s.on(SignalReceived{SIGUSR1});
    s.on(Spawned{gen, pid + 1, ""});
    s.on(ChildReady{gen, "pipe"});
    s.on(ChildExited{pid, exited(0)});  // the drained one
    ++pid;
  }
  CHECK(s.current() == 1000);
  CHECK(s.generations().size() == 1);
  // A failed upgrade is forgotten too, and numbering goes on.
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{1001, 5000, ""});
  s.on(ChildExited{5000, exited(1)});
  CHECK(s.generations().size() == 1);
  auto sp = only<SpawnGeneration>(s.on(SignalReceived{SIGUSR1}));
  REQUIRE(sp.size() == 1);
  CHECK(sp[0].gen == 1002);
}

// ---- control requests -------------------------------------------------------

namespace {

std::vector<ReplyUpgrade> upgrade_replies(const std::vector<Action>& a) {
  return only<ReplyUpgrade>(a);
}

}  // namespace

TEST_CASE("control: status is answered at once, in any state") {
  auto s = serving();
  auto a = s.on(ControlRequest{7, Command::kStatus});
  REQUIRE(only<ReplyStatus>(a).size() == 1);
  CHECK(only<ReplyStatus>(a)[0].conn == 7);
  s.on(SignalReceived{SIGTERM});
  CHECK(only<ReplyStatus>(s.on(ControlRequest{8, Command::kStatus})).size() ==
        1);
}

TEST_CASE("control: upgrade starts one and answers with its result") {
  auto s = serving();
  auto a = s.on(ControlRequest{7, Command::kUpgrade});
  CHECK(only<SpawnGeneration>(a).size() == 1);
  CHECK(upgrade_replies(a).empty());  // not yet: it waits for the outcome
  s.on(Spawned{2, 200, ""});
  a = s.on(ChildReady{2, "pipe"});
  auto r = upgrade_replies(a);
  REQUIRE(r.size() == 1);
  CHECK(r[0].conn == 7);
  CHECK(r[0].result.ok);
  CHECK(r[0].result.gen == 2);
  CHECK(r[0].result.pid == 200);
}

TEST_CASE("control: an upgrade in flight is joined, a queued one stays") {
  auto s = serving();
  s.on(SignalReceived{SIGUSR1});  // gen 2 in flight
  s.on(Spawned{2, 200, ""});
  s.on(SignalReceived{SIGUSR1});  // one more queued behind it
  auto a = s.on(ControlRequest{7, Command::kUpgrade});
  CHECK(only<SpawnGeneration>(a).empty());  // joined, nothing new started
  a = s.on(ControlRequest{8, Command::kUpgrade});
  CHECK(only<SpawnGeneration>(a).empty());
  // Gen 2 fails: both waiters hear gen 2's result, and the queued upgrade
  // (the signal's) starts gen 3, which nobody on the socket waits for.
  a = s.on(ChildExited{200, exited(1)});
  auto r = upgrade_replies(a);
  REQUIRE(r.size() == 2);
  CHECK(r[0].conn == 7);
  CHECK(r[1].conn == 8);
  for (const auto& x : r) {
    CHECK_FALSE(x.result.ok);
    CHECK(x.result.gen == 2);
    CHECK(x.result.reason == "exited before it was ready (exit code 1)");
  }
  auto sp = only<SpawnGeneration>(a);
  REQUIRE(sp.size() == 1);
  CHECK(sp[0].gen == 3);
  s.on(Spawned{3, 300, ""});
  CHECK(upgrade_replies(s.on(ChildReady{3, "pipe"})).empty());
  CHECK(s.current() == 3);
}

TEST_CASE("control: an upgrade before the first ready waits for it") {
  Supervisor s(upgrade_options());
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  auto a = s.on(ControlRequest{7, Command::kUpgrade});
  CHECK(only<SpawnGeneration>(a).empty());
  a = s.on(ChildReady{1, "pipe"});
  REQUIRE(only<SpawnGeneration>(a).size() == 1);
  s.on(Spawned{2, 200, ""});
  auto r = upgrade_replies(s.on(ChildReady{2, "notify"}));
  REQUIRE(r.size() == 1);
  CHECK(r[0].result.ok);
}

TEST_CASE("control: upgrade while stopping is refused with a reason") {
  auto s = serving();
  s.on(SignalReceived{SIGTERM});
  auto a = s.on(ControlRequest{7, Command::kUpgrade});
  auto e = only<ReplyError>(a);
  REQUIRE(e.size() == 1);
  CHECK(e[0].conn == 7);
  CHECK(e[0].message == "byed is stopping");
  CHECK(only<SpawnGeneration>(a).empty());
}

TEST_CASE("control: stop during an upgrade answers the waiters and stops all") {
  auto s = serving();
  s.on(ControlRequest{7, Command::kUpgrade});
  s.on(Spawned{2, 200, ""});
  auto a = s.on(ControlRequest{8, Command::kStop});
  auto stopping = only<ReplyStopping>(a);
  REQUIRE(stopping.size() == 1);
  CHECK(stopping[0].conn == 8);
  auto r = upgrade_replies(a);
  REQUIRE(r.size() == 1);
  CHECK(r[0].conn == 7);
  CHECK_FALSE(r[0].result.ok);
  CHECK(r[0].result.reason == "byed is stopping");
  CHECK(s.status().last_upgrade->reason == "byed is stopping");
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 2);  // both generations get TERM
  for (const auto& x : sent) CHECK(x.sig == SIGTERM);
  CHECK(notes(a).at(0) == "STOPPING=1");
  CHECK(s.stopping());
}

TEST_CASE("status times come with the events") {
  Supervisor s(upgrade_options());
  s.on(Start{}, timespec{10, 0});
  s.on(Spawned{1, 100, ""}, timespec{10, 1});
  s.on(ChildReady{1, "pipe"}, timespec{12, 0});
  REQUIRE(s.generations().size() == 1);
  CHECK(s.generations()[0].started_at.tv_sec == 10);
  CHECK(s.generations()[0].ready_at.tv_sec == 12);
  auto a = s.on(ChildExited{100, exited(0)}, timespec{20, 0});
  auto m = only<WriteExitMarker>(a);
  CHECK(m.empty());  // no EXIT_DIR: no marker
}

// ---- a generation is its process group --------------------------------------

TEST_CASE(
    "group: the rest of a stopped generation gets the signal, then KILL") {
  auto s = started(100, Millis{1000});
  s.on(SignalReceived{SIGTERM});
  // The leader (sh) died of TERM; its background worker is still there.
  auto a = s.on(ChildExited{100, killed(SIGTERM), true, true});
  CHECK_FALSE(exit_of(a));
  auto w = only<WatchGroup>(a);
  REQUIRE(w.size() == 1);
  CHECK(w[0].pgid == 100);
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].sig == SIGTERM);
  CHECK(sent[0].target == Target::kGroup);
  CHECK_FALSE(cancels(a, TimerKind::kStopKill));
  // The timeout kills the group, though its leader is gone.
  a = s.on(TimerFired{TimerId{TimerKind::kStopKill, 0}});
  sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].sig == SIGKILL);
  CHECK(sent[0].target == Target::kGroup);
  REQUIRE(only<SignalOrphans>(a).size() == 1);
  // byed waits for the group and for its children, then exits with the
  // leader's status.
  CHECK_FALSE(exit_of(s.on(GroupEmpty{1})));
  CHECK(exit_of(s.on(ChildExited{101, killed(SIGKILL), false, false})) == 143);
}

TEST_CASE("group: a leader that ends on its own leaves a group to stop") {
  auto s = started();
  auto a = s.on(ChildExited{100, exited(0), true, true});
  CHECK_FALSE(exit_of(a));
  CHECK(s.stopping());  // nothing serves: what is left is stopped
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].pid == 100);
  CHECK(sent[0].target == Target::kGroup);
  auto orphans = only<SignalOrphans>(a);
  REQUIRE(orphans.size() == 1);
  CHECK(orphans[0].sig == SIGTERM);
  CHECK(orphans[0].generation_groups == std::vector<int>{100});
  s.on(ChildExited{101, killed(SIGTERM), false, false});
  CHECK(exit_of(s.on(GroupEmpty{1})) == 0);
}

TEST_CASE("group: a drained generation's group is gone after stop-timeout") {
  auto s = serving();
  take_over(s, 2, 200);  // gen 1 is draining
  // Its leader goes; a background worker keeps the old code running.
  auto a = s.on(ChildExited{100, exited(0), true, true});
  CHECK_FALSE(cancels(a, TimerKind::kDrainKill));  // the group still has it
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].sig == SIGTERM);
  CHECK(sent[0].target == Target::kGroup);
  CHECK_FALSE(s.stopping());
  a = s.on(TimerFired{TimerId{TimerKind::kDrainKill, 1}});
  sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].pid == 100);
  CHECK(sent[0].sig == SIGKILL);
  CHECK(sent[0].target == Target::kGroup);
  CHECK(cancels(s.on(GroupEmpty{1}), TimerKind::kDrainKill));
  CHECK(s.generations().size() == 1);  // forgotten once the group is gone
}

TEST_CASE("group: the drain KILL goes to the group while the leader lives") {
  auto s = serving();
  take_over(s, 2, 200);
  auto sent =
      only<SendSignal>(s.on(TimerFired{TimerId{TimerKind::kDrainKill, 1}}));
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].target == Target::kGroupThenProcess);
}

TEST_CASE("orphans: stopped with byed, and waited for") {
  auto s = started(100, Millis{1000});
  // The program ends; an orphan it left (a daemonised grandchild) runs on.
  auto a = s.on(ChildExited{100, exited(4), false, true});
  CHECK_FALSE(exit_of(a));
  auto o = only<SignalOrphans>(a);
  REQUIRE(o.size() == 1);
  CHECK(o[0].sig == SIGTERM);
  a = s.on(TimerFired{TimerId{TimerKind::kStopKill, 0}});
  o = only<SignalOrphans>(a);
  REQUIRE(o.size() == 1);
  CHECK(o[0].sig == SIGKILL);
  CHECK(exit_of(s.on(ChildExited{300, killed(SIGKILL), false, false})) == 4);
}

// ---- the terminal -----------------------------------------------------------

TEST_CASE("terminal: the first generation takes it; an upgrade's when ready") {
  Supervisor s(upgrade_options());
  auto sp = only<SpawnGeneration>(s.on(Start{}));
  REQUIRE(sp.size() == 1);
  CHECK(sp[0].take_terminal);
  s.on(Spawned{1, 100, ""});
  s.on(ChildReady{1, "pipe"});
  sp = only<SpawnGeneration>(s.on(SignalReceived{SIGUSR1}));
  REQUIRE(sp.size() == 1);
  CHECK_FALSE(sp[0].take_terminal);  // not while it is only starting
  s.on(Spawned{2, 200, ""});
  auto give = only<GiveTerminal>(s.on(ChildReady{2, "pipe"}));
  REQUIRE(give.size() == 1);
  CHECK(give[0].pgid == 200);
  // A rollback leaves it where it is.
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{3, 300, ""});
  CHECK(only<GiveTerminal>(s.on(ChildExited{300, exited(1)})).empty());
  // The serving one ends: the terminal goes back to byed's own group.
  give = only<GiveTerminal>(s.on(ChildExited{200, exited(0)}));
  REQUIRE(give.size() == 1);
  CHECK(give[0].pgid == 0);
}

// ---- exit status ------------------------------------------------------------

TEST_CASE("a serving generation that ends on its own after an upgrade: 1") {
  auto s = serving();
  take_over(s, 2, 200);
  s.on(ChildExited{100, killed(SIGTERM)});  // drained
  auto a = s.on(ChildExited{200, exited(0)});
  CHECK(exit_of(a) == 1);
  bool said = false;
  for (const auto& l : only<Log>(a)) {
    said |= l.record.message.find("ended on its own") != std::string::npos;
  }
  CHECK(said);
  // A code of its own passes through; so does a stop byed was asked for.
  auto t = serving();
  take_over(t, 2, 200);
  t.on(ChildExited{100, killed(SIGTERM)});
  CHECK(exit_of(t.on(ChildExited{200, exited(3)})) == 3);
  auto u = serving();
  take_over(u, 2, 200);
  u.on(ChildExited{100, killed(SIGTERM)});
  u.on(SignalReceived{SIGTERM});
  CHECK(exit_of(u.on(ChildExited{200, exited(0)})) == 0);
  // The first generation ending 0 on its own is a batch job's success.
  auto v = serving();
  CHECK(exit_of(v.on(ChildExited{100, exited(0)})) == 0);
}

TEST_CASE("group: a failed upgrade's leftovers are stopped too") {
  auto s = serving();
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{2, 200, ""});
  auto a = s.on(ChildExited{200, exited(1), true, true});
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].pid == 200);
  CHECK(sent[0].sig == SIGTERM);
  CHECK(sent[0].target == Target::kGroup);
  CHECK(arms(a, TimerKind::kDrainKill, 2));
  CHECK(s.current() == 1);
  sent = only<SendSignal>(s.on(TimerFired{TimerId{TimerKind::kDrainKill, 2}}));
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].sig == SIGKILL);
}

TEST_CASE("orphans: ones that appear while stopping are told too") {
  auto s = started(100, Millis{1000});
  auto a = s.on(SignalReceived{SIGTERM});
  REQUIRE(only<SignalOrphans>(a).size() == 1);
  // The leader dies and leaves a daemonised child to byed: it gets TERM
  // now (the shell tells each orphan a given signal once).
  a = s.on(ChildExited{100, killed(SIGTERM), false, true});
  auto o = only<SignalOrphans>(a);
  REQUIRE(o.size() == 1);
  CHECK(o[0].sig == SIGTERM);
  CHECK_FALSE(exit_of(a));
  CHECK(exit_of(s.on(ChildExited{300, killed(SIGTERM), false, false})) == 143);
}

// ---- restarts ---------------------------------------------------------------

namespace {

Config restart_options(RestartPolicy p) {
  Config o = upgrade_options();
  o.restart = p;
  o.restart_delay = Millis{100};
  o.restart_delay_max = Millis{10000};
  o.restart_burst = 5;
  o.restart_interval = Millis{60000};
  return o;
}

Now at_ms(int64_t ms) {
  return Now(timespec{static_cast<time_t>(ms / 1000),
                      static_cast<long>(ms % 1000) * 1000000},
             ms);
}

std::optional<Millis> restart_timer(const std::vector<Action>& a) {
  for (const auto& t : only<ArmTimer>(a)) {
    if (t.id.kind == TimerKind::kRestart) return t.after;
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("restart on-failure: a crash restarts on the same sockets") {
  Supervisor s(restart_options(RestartPolicy::kOnFailure));
  s.on(Start{}, at_ms(0));
  s.on(Spawned{1, 100, ""}, at_ms(0));
  s.on(ChildReady{1, "pipe"}, at_ms(10));
  auto a = s.on(ChildExited{100, killed(SIGSEGV)}, at_ms(1000));
  CHECK_FALSE(exit_of(a));
  CHECK_FALSE(s.stopping());
  CHECK(restart_timer(a) == Millis{100});
  CHECK(s.status().restarts == 1);
  CHECK(s.status().last_restart_reason == "gen 1 killed by signal SEGV");
  REQUIRE(s.status().next_restart_at.has_value());
  CHECK(s.status().next_restart_at->tv_sec == 1);
  CHECK(s.status().next_restart_at->tv_nsec == 100000000);
  // RELOADING-free: systemd sees a STATUS= line only.
  REQUIRE(notes(a).size() == 1);
  CHECK(notes(a)[0].rfind("STATUS=restarting in 100ms: gen 1", 0) == 0);
  a = s.on(TimerFired{TimerId{TimerKind::kRestart, 0}}, at_ms(1100));
  auto sp = only<SpawnGeneration>(a);
  REQUIRE(sp.size() == 1);
  CHECK(sp[0].gen == 2);
  CHECK(s.current() == 2);
  CHECK_FALSE(s.status().next_restart_at.has_value());
  s.on(Spawned{2, 200, ""}, at_ms(1100));
  // Signals go to the restarted one.
  auto fw = only<SendSignal>(s.on(SignalReceived{SIGHUP}, at_ms(1150)));
  REQUIRE(fw.size() == 1);
  CHECK(fw[0].pid == 200);
  a = s.on(ChildReady{2, "pipe"}, at_ms(1200));
  CHECK(only<WritePidfile>(a).empty());  // written once, byed's pid
  REQUIRE(notes(a).size() == 1);
  CHECK(notes(a)[0] == "STATUS=gen 2 ready (pid 200), restarted");
  // A clean exit is no failure: byed ends with it.
  CHECK(exit_of(s.on(ChildExited{200, exited(0)}, at_ms(5000))) == 0);
}

TEST_CASE("restart: no restart for a clean exit unless always") {
  Supervisor s(restart_options(RestartPolicy::kOnFailure));
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  s.on(ChildReady{1, "pipe"});
  CHECK(exit_of(s.on(ChildExited{100, exited(0)})) == 0);
  Supervisor t(restart_options(RestartPolicy::kAlways));
  t.on(Start{});
  t.on(Spawned{1, 100, ""});
  t.on(ChildReady{1, "pipe"});
  auto a = t.on(ChildExited{100, exited(0)});
  CHECK_FALSE(exit_of(a));
  CHECK(restart_timer(a).has_value());
  Supervisor n(restart_options(RestartPolicy::kNo));
  n.on(Start{});
  n.on(Spawned{1, 100, ""});
  n.on(ChildReady{1, "pipe"});
  CHECK(exit_of(n.on(ChildExited{100, exited(3)})) == 3);
}

TEST_CASE("restart: back-off doubles to the cap, burst limit gives up") {
  Config o = restart_options(RestartPolicy::kOnFailure);
  o.restart_burst = 8;
  o.restart_delay_max = Millis{500};
  Supervisor s(o);
  s.on(Start{}, at_ms(0));
  s.on(Spawned{1, 100, ""}, at_ms(0));
  int64_t t = 0;
  int pid = 100;
  std::vector<long> delays;
  for (int i = 0; i < 8; ++i) {
    // Crashes at start, before it is ready: a crash loop.
    auto a = s.on(ChildExited{pid, exited(1)}, at_ms(t += 10));
    auto d = restart_timer(a);
    REQUIRE(d.has_value());
    delays.push_back(d->count());
    s.on(TimerFired{TimerId{TimerKind::kRestart, 0}}, at_ms(t += d->count()));
    s.on(Spawned{s.current(), ++pid, ""}, at_ms(t));
  }
  CHECK(delays == std::vector<long>{100, 200, 400, 500, 500, 500, 500, 500});
  // The ninth within the interval: byed gives up with the last status.
  auto a = s.on(ChildExited{pid, exited(1)}, at_ms(t += 10));
  CHECK_FALSE(restart_timer(a).has_value());
  CHECK(exit_of(a) == 1);
  bool said = false;
  for (const auto& l : only<Log>(a)) {
    said |= l.record.message == "restart limit reached: giving up";
  }
  CHECK(said);
}

TEST_CASE("restart: the back-off resets after a generation stayed ready") {
  Supervisor s(restart_options(RestartPolicy::kOnFailure));
  s.on(Start{}, at_ms(0));
  s.on(Spawned{1, 100, ""}, at_ms(0));
  s.on(ChildReady{1, "pipe"}, at_ms(0));
  CHECK(restart_timer(s.on(ChildExited{100, exited(1)}, at_ms(10))) ==
        Millis{100});
  s.on(TimerFired{TimerId{TimerKind::kRestart, 0}}, at_ms(110));
  s.on(Spawned{2, 200, ""}, at_ms(110));
  s.on(ChildReady{2, "pipe"}, at_ms(120));
  CHECK(restart_timer(s.on(ChildExited{200, exited(1)}, at_ms(200))) ==
        Millis{200});  // died soon after: the delay doubles
  s.on(TimerFired{TimerId{TimerKind::kRestart, 0}}, at_ms(400));
  s.on(Spawned{3, 300, ""}, at_ms(400));
  s.on(ChildReady{3, "pipe"}, at_ms(500));
  // Ready for 1 s: no crash loop, back to the start.
  CHECK(restart_timer(s.on(ChildExited{300, exited(1)}, at_ms(1500))) ==
        Millis{100});
}

TEST_CASE("restart: a stop during the back-off stops at once") {
  Supervisor s(restart_options(RestartPolicy::kOnFailure));
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  s.on(ChildReady{1, "pipe"});
  s.on(ChildExited{100, killed(SIGKILL)});
  auto a = s.on(SignalReceived{SIGTERM});
  CHECK(cancels(a, TimerKind::kRestart));
  CHECK(exit_of(a) == 137);  // the last generation's status
  CHECK(s.on(TimerFired{TimerId{TimerKind::kRestart, 0}}).empty());
}

TEST_CASE("restart: a follower told to stop does not restart") {
  Config o = restart_options(RestartPolicy::kAlways);
  o.exit_dir = "/exit";
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  s.on(ChildReady{1, "pipe"});
  s.on(ExitDirEntry{"main.exit"});
  auto a = s.on(ChildExited{100, killed(SIGTERM)});
  CHECK_FALSE(restart_timer(a).has_value());
  CHECK(exit_of(a) == 0);
}

TEST_CASE(
    "restart: the leader marker is written when byed ends, not per restart") {
  Config o = restart_options(RestartPolicy::kOnFailure);
  o.exit_dir = "/exit";
  o.restart_burst = 1;
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  s.on(ChildReady{1, "pipe"});
  auto a = s.on(ChildExited{100, exited(2)});
  CHECK(only<WriteExitMarker>(a).empty());
  s.on(TimerFired{TimerId{TimerKind::kRestart, 0}});
  s.on(Spawned{2, 200, ""});
  a = s.on(ChildExited{200, exited(3)});  // past the limit
  auto m = only<WriteExitMarker>(a);
  REQUIRE(m.size() == 1);
  CHECK(m[0].pid == 200);
  CHECK(exit_of(a) == 3);
}

TEST_CASE(
    "restart: a new generation that dies after taking over is restarted") {
  Supervisor s(restart_options(RestartPolicy::kOnFailure));
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  s.on(ChildReady{1, "pipe"});
  take_over(s, 2, 200);  // gen 1 draining
  auto a = s.on(ChildExited{200, killed(SIGSEGV)});
  CHECK_FALSE(exit_of(a));
  CHECK_FALSE(s.stopping());
  CHECK(restart_timer(a).has_value());
  s.on(ChildExited{100, exited(0)});  // the drained one finishes
  auto sp =
      only<SpawnGeneration>(s.on(TimerFired{TimerId{TimerKind::kRestart, 0}}));
  REQUIRE(sp.size() == 1);
  CHECK(sp[0].gen == 3);
}

TEST_CASE("restart: the serving one dying mid-upgrade lets the new one serve") {
  Supervisor s(restart_options(RestartPolicy::kOnFailure));
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  s.on(ChildReady{1, "pipe"});
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{2, 200, ""});
  auto a = s.on(ChildExited{100, killed(SIGSEGV)});
  CHECK_FALSE(exit_of(a));
  CHECK_FALSE(restart_timer(a).has_value());
  s.on(ChildReady{2, "pipe"});
  CHECK(s.current() == 2);
  CHECK(s.status().last_upgrade->ok);
  // And if the upgrade fails instead, it is a restart.
  Supervisor t(restart_options(RestartPolicy::kOnFailure));
  t.on(Start{});
  t.on(Spawned{1, 100, ""});
  t.on(ChildReady{1, "pipe"});
  t.on(SignalReceived{SIGUSR1});
  t.on(Spawned{2, 200, ""});
  t.on(ChildExited{100, killed(SIGSEGV)});
  a = t.on(ChildExited{200, exited(1)});
  CHECK(restart_timer(a).has_value());
  CHECK_FALSE(exit_of(a));
}

TEST_CASE("restart: a restarted generation not ready in time is a failure") {
  Supervisor s(restart_options(RestartPolicy::kOnFailure));
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  auto a = s.on(TimerFired{TimerId{TimerKind::kReadyTimeout, 1}});
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].sig == SIGTERM);
  CHECK_FALSE(s.stopping());
  a = s.on(ChildExited{100, exited(0)});  // it even exits 0 on TERM
  CHECK(restart_timer(a).has_value());
  CHECK(s.status().last_restart_reason == "gen 1 exit code 0");
}

// ---- watchdog
// -----------------------------------------------------------------

TEST_CASE("watchdog: systemd's pings are relayed from the serving one only") {
  Config o = upgrade_options();
  o.systemd_watchdog_usec = 2000000;
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  ChildSaid ping;
  ping.gen = 1;
  ping.watchdog = true;
  CHECK(notes(s.on(ping)).empty());  // not serving yet
  s.on(ChildReady{1, "pipe"});
  CHECK(notes(s.on(ping)) == std::vector<std::string>{"WATCHDOG=1"});
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{2, 200, ""});
  ChildSaid ping2 = ping;
  ping2.gen = 2;
  CHECK(notes(s.on(ping2)).empty());     // starting: not relayed
  CHECK(notes(s.on(ping)).size() == 1);  // the old one serves still
  s.on(ChildReady{2, "pipe"});
  CHECK(notes(s.on(ping)).empty());  // draining now
  CHECK(notes(s.on(ping2)).size() == 1);
  ChildSaid trigger = ping2;
  trigger.watchdog = false;
  trigger.watchdog_trigger = true;
  CHECK(notes(s.on(trigger)) == std::vector<std::string>{"WATCHDOG=trigger"});
  // Without systemd's watchdog, nothing is relayed.
  Supervisor n(upgrade_options());
  n.on(Start{});
  n.on(Spawned{1, 100, ""});
  n.on(ChildReady{1, "pipe"});
  CHECK(notes(n.on(ping)).empty());
}

TEST_CASE("watchdog: STATUS= of the current generation goes to systemd") {
  Supervisor s(upgrade_options());
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  ChildSaid st;
  st.gen = 1;
  st.status = "loading models";
  st.extend_timeout_usec = 5000000;
  auto a = s.on(st);
  auto n = only<NotifySystemd>(a);
  REQUIRE(n.size() == 2);
  CHECK(n[0].status == "gen 1: loading models");
  CHECK(n[1].extend_timeout_usec == 5000000);
  s.on(ChildReady{1, "pipe"});
  n = only<NotifySystemd>(s.on(st));
  REQUIRE(n.size() == 1);  // byed is started: no more extending
  CHECK(n[0].extend_timeout_usec == 0);
}

TEST_CASE("watchdog: silent after a ping -> ABRT, KILL, then --restart") {
  Config o = restart_options(RestartPolicy::kOnFailure);
  o.watchdog = Millis{2000};
  o.stop_timeout = Millis{1000};
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  s.on(ChildReady{1, "pipe"});
  ChildSaid ping;
  ping.gen = 1;
  ping.watchdog = true;
  CHECK(arms(s.on(ping), TimerKind::kWatchdog, 1));
  CHECK(arms(s.on(ping), TimerKind::kWatchdog, 1));  // each ping re-arms
  auto a = s.on(TimerFired{TimerId{TimerKind::kWatchdog, 1}});
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].sig == SIGABRT);
  CHECK(arms(a, TimerKind::kDrainKill, 1));
  sent = only<SendSignal>(s.on(TimerFired{TimerId{TimerKind::kDrainKill, 1}}));
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].sig == SIGKILL);
  a = s.on(ChildExited{100, killed(SIGKILL)});
  CHECK(restart_timer(a).has_value());
  // With --restart no: byed exits 128+ABRT when ABRT did it.
  Config n = o;
  n.restart = RestartPolicy::kNo;
  Supervisor t(n);
  t.on(Start{});
  t.on(Spawned{1, 100, ""});
  t.on(ChildReady{1, "pipe"});
  t.on(ping);
  t.on(TimerFired{TimerId{TimerKind::kWatchdog, 1}});
  CHECK(exit_of(t.on(ChildExited{100, killed(SIGABRT)})) == 128 + SIGABRT);
}

TEST_CASE("watchdog: no ping ever, no watchdog") {
  Config o = upgrade_options();
  o.watchdog = Millis{2000};
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  auto a = s.on(ChildReady{1, "pipe"});
  CHECK_FALSE(arms(a, TimerKind::kWatchdog, 1));
}

// ---- drop-in for tini and dumb-init
// -------------------------------------------

TEST_CASE("rewrite: a rewritten TERM still stops, sent as QUIT") {
  Config o = options(Millis{5000}, "./srv");
  o.rewrite = {{SIGTERM, SIGQUIT}, {SIGUSR2, 0}, {SIGHUP, SIGUSR2}};
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  auto sent = only<SendSignal>(s.on(SignalReceived{SIGHUP}));
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].sig == SIGUSR2);
  CHECK(s.on(SignalReceived{SIGUSR2}).empty());  // rewritten to none
  CHECK_FALSE(s.stopping());
  auto a = s.on(SignalReceived{SIGTERM});
  CHECK(s.stopping());
  sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].sig == SIGQUIT);
  CHECK(exit_of(s.on(ChildExited{100, killed(SIGQUIT)})) == 128 + SIGQUIT);
}

TEST_CASE("forward-to group: forwarded and stop signals reach the group") {
  Config o = options(Millis{5000}, "./srv");
  o.forward_to_group = true;
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  auto sent = only<SendSignal>(s.on(SignalReceived{SIGHUP}));
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].target == Target::kGroupThenProcess);
  sent = only<SendSignal>(s.on(SignalReceived{SIGTERM}));
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].target == Target::kGroupThenProcess);
}

TEST_CASE("success-status: 143 counts as success; a forced code does not") {
  Config o = options(Millis{5000}, "./srv");
  o.success_status = {143};
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  s.on(SignalReceived{SIGTERM});
  CHECK(exit_of(s.on(ChildExited{100, killed(SIGTERM)})) == 0);
  Supervisor t(o);
  t.on(Start{});
  t.on(Spawned{1, 100, ""});
  CHECK(exit_of(t.on(ChildExited{100, exited(3)})) == 3);
}

TEST_CASE("upgrade signal none: USR1 is forwarded; ctl still upgrades") {
  Config o = upgrade_options();
  o.upgrade_signal = 0;
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  s.on(ChildReady{1, "pipe"});
  auto a = s.on(SignalReceived{SIGUSR1});
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].sig == SIGUSR1);
  CHECK(only<SpawnGeneration>(a).empty());
  CHECK(only<SpawnGeneration>(s.on(ControlRequest{1, Command::kUpgrade}))
            .size() == 1);
}

TEST_CASE("a refusal to start is a warning, shown even with -q") {
  Config o = options(Millis{5000}, "./srv");
  o.exit_dir = "/exit";
  o.log_level = LogLevel::kWarn;
  Supervisor s(o);
  s.on(ExitDirEntry{"main.exit"});
  auto logs = only<Log>(s.on(Start{}));
  bool warned = false;
  for (const auto& l : logs) {
    warned |= l.record.level == LogLevel::kWarn &&
              l.record.message.find("not starting") != std::string::npos;
  }
  CHECK(warned);
}

// ---- readiness rules: accepting, settle, probes, stopped --------------------

namespace {

// auto (the default) with one held socket: readiness is accepting.
Config socket_options() {
  Config o = options(Millis{5000}, "./srv");
  o.held_sockets = {"web"};
  return o;
}

std::vector<Action> seen(Supervisor& s, int gen, const char* via = "epoll") {
  return s.on(AcceptingProbed{gen, AcceptingProbed::Result::kAccepting,
                              std::string("accepting web: ") + via});
}

std::vector<Action> not_yet(Supervisor& s, int gen) {
  return s.on(AcceptingProbed{gen, AcceptingProbed::Result::kNotYet, ""});
}

Millis armed_for(const std::vector<Action>& a, TimerKind kind, int gen) {
  for (const auto& t : only<ArmTimer>(a)) {
    if (t.id.kind == kind && t.id.gen == gen) return t.after;
  }
  return Millis{-1};
}

// Gen 1 (pid 100) serving on the socket, gen 2 (pid 200) started by USR1.
Supervisor upgrading_on_socket(Config o = socket_options()) {
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  s.on(Exec{1, ""});
  seen(s, 1);
  REQUIRE(s.generations().at(0).state == Supervisor::GenState::kReady);
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{2, 200, ""});
  return s;
}

}  // namespace

TEST_CASE("auto with sockets: ready once it waits on them, not by time") {
  Supervisor s(socket_options());
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  auto a = s.on(Exec{1, ""});
  auto probes = only<ProbeAccepting>(a);
  REQUIRE(probes.size() == 1);
  CHECK(probes[0].pid == 100);
  CHECK(probes[0].names.empty());                   // every held socket
  CHECK_FALSE(arms(a, TimerKind::kReadyDelay, 1));  // no "alive 1s"
  // Looked at often at first, then less often, capped.
  CHECK(armed_for(not_yet(s, 1), TimerKind::kAcceptProbe, 1) == Millis{5});
  CHECK(armed_for(not_yet(s, 1), TimerKind::kAcceptProbe, 1) == Millis{10});
  for (int i = 0; i < 10; ++i) not_yet(s, 1);
  CHECK(armed_for(not_yet(s, 1), TimerKind::kAcceptProbe, 1) == Millis{200});
  // The timer asks again.
  CHECK(only<ProbeAccepting>(
            s.on(TimerFired{TimerId{TimerKind::kAcceptProbe, 1}}))
            .size() == 1);
  // A stale alive timer makes nothing ready.
  CHECK(only<WritePidfile>(s.on(TimerFired{TimerId{TimerKind::kReadyDelay, 1}}))
            .empty());
  a = seen(s, 1, "accept pid=100");
  CHECK(only<WritePidfile>(a).size() == 1);
  CHECK(cancels(a, TimerKind::kAcceptProbe));
  bool logged = false;
  for (const auto& l : only<Log>(a)) {
    for (const auto& [k, v] : l.record.fields) {
      logged |= k == "via" && v == "accepting web: accept pid=100";
    }
  }
  CHECK(logged);
}

TEST_CASE("auto with sockets: READY=1 alone is not enough (gunicorn)") {
  auto s = upgrading_on_socket();
  s.on(Exec{2, ""});
  // gunicorn's arbiter says READY=1 before its workers import the app.
  auto a = s.on(ChildReady{2, "notify"});
  CHECK(only<SendSignal>(a).empty());
  CHECK(s.upgrading() == 2);
  // Its workers fail to boot: gunicorn exits; the old one keeps serving.
  a = s.on(ChildExited{200, exited(3)});
  CHECK(only<SendSignal>(a).empty());
  REQUIRE(s.status().last_upgrade.has_value());
  CHECK_FALSE(s.status().last_upgrade->ok);
  CHECK(s.current() == 1);
  CHECK_FALSE(exit_of(a));
}

TEST_CASE("auto with sockets: a program that speaks needs both") {
  auto s = upgrading_on_socket();
  s.on(Exec{2, ""});
  s.on(ChildReady{2, "notify"});  // from now on a message is needed too
  s.on(SignalReceived{SIGUSR1});  // queued behind gen 2
  auto a = seen(s, 2);
  CHECK(arms(a, TimerKind::kSettle, 2));
  a = s.on(TimerFired{TimerId{TimerKind::kSettle, 2}});
  CHECK(s.current() == 2);
  // Gen 3: accepting alone is not enough once a program sent a message.
  s.on(Spawned{3, 300, ""});
  s.on(Exec{3, ""});
  a = seen(s, 3);
  CHECK_FALSE(arms(a, TimerKind::kSettle, 3));
  CHECK(s.upgrading() == 3);
  a = s.on(ChildReady{3, "pipe"});
  CHECK(arms(a, TimerKind::kSettle, 3));
}

TEST_CASE("settle: the old one serves until the new one stayed ready") {
  auto s = upgrading_on_socket();
  s.on(Exec{2, ""});
  auto a = seen(s, 2);
  CHECK(armed_for(a, TimerKind::kSettle, 2) == Millis{1000});  // auto: 1s
  CHECK(only<SendSignal>(a).empty());  // old not drained yet
  CHECK(cancels(a, TimerKind::kReadyTimeout));
  CHECK(s.current() == 1);
  // Forwarded signals still go to the old one.
  auto fw = only<SendSignal>(s.on(SignalReceived{SIGHUP}));
  REQUIRE(fw.size() == 1);
  CHECK(fw[0].pid == 100);
  // It fails a moment after it looked ready: the upgrade failed.
  a = s.on(ChildExited{200, exited(3)});
  CHECK(only<SendSignal>(a).empty());
  REQUIRE(s.status().last_upgrade.has_value());
  CHECK_FALSE(s.status().last_upgrade->ok);
  CHECK(s.status().last_upgrade->reason.find("within --ready-settle") !=
        std::string::npos);
  CHECK(s.current() == 1);
  CHECK_FALSE(exit_of(a));
  // A stale settle timer does nothing.
  CHECK(only<SendSignal>(s.on(TimerFired{TimerId{TimerKind::kSettle, 2}}))
            .empty());
}

TEST_CASE("settle: over, the new one serves and the old drains") {
  auto s = upgrading_on_socket();
  s.on(ControlRequest{7, Command::kUpgrade});  // joins the one in flight
  s.on(Exec{2, ""});
  seen(s, 2);
  auto a = s.on(TimerFired{TimerId{TimerKind::kSettle, 2}});
  CHECK(s.current() == 2);
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].pid == 100);
  auto replies = only<ReplyUpgrade>(a);
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].result.ok);
  // No settle for the first generation, nor with explicit rules and no
  // --ready-settle.
  Config o = socket_options();
  o.ready.automatic = false;
  o.ready.accepting = true;
  auto e = upgrading_on_socket(o);
  e.on(Exec{2, ""});
  a = seen(e, 2);
  CHECK_FALSE(arms(a, TimerKind::kSettle, 2));
  CHECK(e.current() == 2);
  o.ready_settle = Millis{300};
  auto f = upgrading_on_socket(o);
  f.on(Exec{2, ""});
  CHECK(armed_for(seen(f, 2), TimerKind::kSettle, 2) == Millis{300});
}

TEST_CASE("accepting cannot be seen: said once, then message or alive 1s") {
  Supervisor s(socket_options());
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  s.on(Exec{1, ""});
  auto a = s.on(AcceptingProbed{1, AcceptingProbed::Result::kUnknown,
                                "/proc/100/fdinfo: Permission denied"});
  CHECK(only<Log>(a).size() == 1);
  CHECK(armed_for(a, TimerKind::kReadyDelay, 1) == Millis{1000});
  a = s.on(TimerFired{TimerId{TimerKind::kReadyDelay, 1}});
  CHECK(only<WritePidfile>(a).size() == 1);
  // Later generations are not probed at all.
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{2, 200, ""});
  a = s.on(Exec{2, ""});
  CHECK(only<ProbeAccepting>(a).empty());
  CHECK(arms(a, TimerKind::kReadyDelay, 2));
}

TEST_CASE("a stopped generation is never ready until it continues") {
  auto s = upgrading_on_socket();
  s.on(Exec{2, ""});
  s.on(ChildStopped{200, SIGTTIN});  // read the terminal from the background
  auto a = seen(s, 2);
  CHECK_FALSE(arms(a, TimerKind::kSettle, 2));
  CHECK(s.upgrading() == 2);
  a = s.on(ChildContinued{200});
  CHECK(arms(a, TimerKind::kSettle, 2));
  // Stopped while settling: the window starts again when it continues.
  s.on(ChildStopped{200, SIGSTOP});
  CHECK(s.on(TimerFired{TimerId{TimerKind::kSettle, 2}}).empty());
  CHECK(s.current() == 1);
  a = s.on(ChildContinued{200});
  CHECK(arms(a, TimerKind::kSettle, 2));
  s.on(TimerFired{TimerId{TimerKind::kSettle, 2}});
  CHECK(s.current() == 2);
}

TEST_CASE("exec probe: run one at a time until it passes") {
  Config o = options(Millis{5000}, "./srv");
  o.ready.automatic = false;
  o.ready.exec = {"check-a", "check-b"};
  o.ready_interval = Millis{250};
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  auto a = s.on(Exec{1, ""});
  auto run = only<RunProbe>(a);
  REQUIRE(run.size() == 1);
  CHECK(run[0].cmd == "check-a");
  CHECK(run[0].pid == 100);
  CHECK(run[0].kind == ProbeKind::kReady);
  CHECK(run[0].timeout == Millis{1000});
  a = s.on(ProbeDone{1, ProbeKind::kReady, 0, false, "exit code 7"});
  CHECK(armed_for(a, TimerKind::kReadyProbe, 1) == Millis{250});
  CHECK(only<WritePidfile>(a).empty());
  run = only<RunProbe>(s.on(TimerFired{TimerId{TimerKind::kReadyProbe, 1}}));
  REQUIRE(run.size() == 1);
  CHECK(run[0].cmd == "check-a");
  a = s.on(ProbeDone{1, ProbeKind::kReady, 0, true, "exit code 0"});
  CHECK(only<WritePidfile>(a).empty());  // check-b must pass too
  // The next rule is tried at once, not after the interval.
  CHECK(armed_for(a, TimerKind::kReadyProbe, 1) == Millis{0});
  run = only<RunProbe>(s.on(TimerFired{TimerId{TimerKind::kReadyProbe, 1}}));
  REQUIRE(run.size() == 1);
  CHECK(run[0].cmd == "check-b");
  a = s.on(ProbeDone{1, ProbeKind::kReady, 1, true, "exit code 0"});
  CHECK(only<WritePidfile>(a).size() == 1);
  CHECK(only<StopProbes>(a).size() == 1);
  // A stop kills what probes still run.
  a = s.on(SignalReceived{SIGTERM});
  CHECK(only<StopProbes>(a).size() == 1);
}

TEST_CASE("health: N failed probes in a row make the serving one hung") {
  Config o = options(Millis{5000}, "./srv");
  o.ready.automatic = false;
  o.ready.message = true;
  o.health = "check";
  o.health_interval = Millis{2000};
  o.health_failures = 2;
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  auto a = s.on(ChildReady{1, "pipe"});
  CHECK(armed_for(a, TimerKind::kHealth, 1) == Millis{2000});
  auto run = only<RunProbe>(s.on(TimerFired{TimerId{TimerKind::kHealth, 1}}));
  REQUIRE(run.size() == 1);
  CHECK(run[0].kind == ProbeKind::kHealth);
  CHECK(run[0].timeout == Millis{2000});
  a = s.on(ProbeDone{1, ProbeKind::kHealth, 0, false, "exit code 1"});
  CHECK(only<SendSignal>(a).empty());
  CHECK(arms(a, TimerKind::kHealth, 1));
  // A success resets the count.
  s.on(ProbeDone{1, ProbeKind::kHealth, 0, true, "exit code 0"});
  a = s.on(ProbeDone{1, ProbeKind::kHealth, 0, false, "exit code 1"});
  CHECK(only<SendSignal>(a).empty());
  a = s.on(ProbeDone{1, ProbeKind::kHealth, 0, false, "timed out"});
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].sig == SIGABRT);
  CHECK(arms(a, TimerKind::kDrainKill, 1));
  CHECK_FALSE(arms(a, TimerKind::kHealth, 1));
}

TEST_CASE("--stop-delay: STOPPING at once, keep serving, then the signal") {
  auto o = options(Millis{30000}, "./server");
  o.stop_delay = Millis{5000};
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  auto a = s.on(SignalReceived{SIGTERM});
  CHECK(only<SendSignal>(a).empty());  // still serving
  CHECK(armed_for(a, TimerKind::kStopDelay, 0) == Millis{5000});
  REQUIRE(notes(a).size() == 1);
  CHECK(notes(a)[0].rfind("STOPPING=1\nSTATUS=stopping in 5s", 0) == 0);
  CHECK_FALSE(s.stopping());
  // Signals are still forwarded; no upgrade starts.
  CHECK(only<SendSignal>(s.on(SignalReceived{SIGHUP})).size() == 1);
  CHECK(only<SpawnGeneration>(s.on(SignalReceived{SIGUSR1})).empty());
  a = s.on(TimerFired{TimerId{TimerKind::kStopDelay, 0}});
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].sig == SIGTERM);
  CHECK(s.stopping());
  CHECK(exit_of(s.on(ChildExited{100, killed(SIGTERM)})) == 143);

  // A second stop signal ends the delay at once.
  Supervisor t(o);
  t.on(Start{});
  t.on(Spawned{1, 100, ""});
  t.on(SignalReceived{SIGTERM});
  a = t.on(SignalReceived{SIGINT});
  CHECK(cancels(a, TimerKind::kStopDelay));
  sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].sig == SIGINT);
  CHECK(t.stopping());

  // The program ending meanwhile: the stop goes on, no restart.
  o.restart = byed::RestartPolicy::kAlways;
  Supervisor u(o);
  u.on(Start{});
  u.on(Spawned{1, 100, ""});
  u.on(SignalReceived{SIGTERM});
  a = u.on(ChildExited{100, exited(0)});
  CHECK_FALSE(arms(a, TimerKind::kRestart, 0));
  CHECK(exit_of(a) == 0);
}

TEST_CASE(
    "in a terminal the generation taking over gets the terminal and CONT") {
  auto o = upgrade_options();
  Supervisor s(o);
  s.on(Start{true, {}});
  s.on(Spawned{1, 100, ""});
  s.on(ChildReady{1, "pipe"});
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{2, 200, ""});
  auto a = s.on(ChildReady{2, "pipe"});
  auto give = only<GiveTerminal>(a);
  REQUIRE(give.size() == 1);
  CHECK(give[0].pgid == 200);
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 2);
  CHECK(sent[0].pid == 200);
  CHECK(sent[0].sig == SIGCONT);
  CHECK(sent[0].target == Target::kGroupThenProcess);
  CHECK(sent[1].pid == 100);
}

TEST_CASE("--wait-for: the program starts once each member is ready") {
  auto o = options(Millis{30000}, "./server");
  o.ready_dir = "/run/ready";
  o.wait_for = {"db", "cache"};
  o.wait_for_timeout = Millis{9000};
  Supervisor s(o);
  auto a = s.on(Start{});
  CHECK(only<SpawnGeneration>(a).empty());
  CHECK(only<WatchReadyDir>(a).size() == 1);
  CHECK(armed_for(a, TimerKind::kWaitFor, 0) == Millis{9000});
  CHECK(only<SpawnGeneration>(s.on(ReadyDirEntry{"db.ready"})).empty());
  CHECK(only<SpawnGeneration>(s.on(ReadyDirEntry{"other.ready"})).empty());
  CHECK(only<SpawnGeneration>(s.on(ReadyDirEntry{"cache.exit"})).empty());
  a = s.on(ReadyDirEntry{"cache.ready"});
  CHECK(only<SpawnGeneration>(a).size() == 1);
  CHECK(cancels(a, TimerKind::kWaitFor));
  // Its own first ready leaves NAME.ready.
  s.on(Spawned{1, 100, ""});
  s.on(Exec{1, ""});
  a = s.on(TimerFired{TimerId{TimerKind::kReadyDelay, 1}});
  CHECK(only<WriteReadyMarker>(a).size() == 1);

  // Timed out: exit 1, nothing started.
  Supervisor t(o);
  t.on(Start{});
  t.on(ReadyDirEntry{"db.ready"});
  a = t.on(TimerFired{TimerId{TimerKind::kWaitFor, 0}});
  CHECK(exit_of(a) == 1);
  CHECK(only<SpawnGeneration>(a).empty());

  // A stop signal or an exit marker while waiting ends byed.
  Supervisor u(o);
  u.on(Start{});
  CHECK(exit_of(u.on(SignalReceived{SIGTERM})) == 128 + SIGTERM);
  o.exit_dir = "/run/exit";
  Supervisor v(o);
  v.on(Start{});
  CHECK(exit_of(v.on(ExitDirEntry{"main.exit"})) == 0);
}

// ---- what the mutation check found untested --------------------------------

TEST_CASE("orphans: one that dies while stopping leaves its own to signal") {
  auto s = started();
  s.on(SignalReceived{SIGTERM});
  // An orphan dies; byed still has children: new orphans may have appeared
  // (its own children, adopted now) and get the stop signal too.
  auto a = s.on(ChildExited{555, killed(SIGTERM), false, true});
  auto o = only<SignalOrphans>(a);
  REQUIRE(o.size() == 1);
  CHECK(o[0].sig == SIGTERM);
  CHECK(o[0].generation_groups == std::vector<int>{100});
  // The generation's leader goes with its group: no group to spare.
  a = s.on(ChildExited{100, killed(SIGTERM), false, true});
  o = only<SignalOrphans>(a);
  REQUIRE(o.size() == 1);
  CHECK(o[0].generation_groups.empty());
  // Not stopping: an orphan's end signals nobody.
  auto t = started();
  CHECK(only<SignalOrphans>(t.on(ChildExited{555, exited(0), false, true}))
            .empty());
  // Stopping, but no child left: nothing to look for.
  auto u = started();
  u.on(SignalReceived{SIGTERM});
  CHECK(only<SignalOrphans>(u.on(ChildExited{555, exited(0), false, false}))
            .empty());
}

TEST_CASE("stop during an upgrade: the new one's timers go, no queued one") {
  auto s = serving();
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{2, 200, ""});
  s.on(SignalReceived{SIGUSR1});  // queued behind gen 2
  auto a = s.on(SignalReceived{SIGTERM});
  CHECK(cancels(a, TimerKind::kReadyTimeout));
  CHECK(cancels(a, TimerKind::kReadyDelay));
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 2);
  // Gen 2 failing now starts nothing.
  a = s.on(ChildExited{200, killed(SIGTERM)});
  CHECK(only<SpawnGeneration>(a).empty());
  CHECK(exit_of(s.on(ChildExited{100, killed(SIGTERM)})) == 143);
}

TEST_CASE("ready cancels every readiness timer and the probes") {
  Config o = socket_options();
  o.ready.automatic = false;
  o.ready.accepting = true;
  o.ready.alive = Millis{500};
  o.ready.exec = {"check"};
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  s.on(Exec{1, ""});
  s.on(ProbeDone{1, ProbeKind::kReady, 0, true, ""});
  s.on(TimerFired{TimerId{TimerKind::kReadyDelay, 1}});
  auto a = seen(s, 1);
  REQUIRE(only<WritePidfile>(a).size() == 1);
  for (TimerKind k :
       {TimerKind::kReadyTimeout, TimerKind::kReadyDelay,
        TimerKind::kAcceptProbe, TimerKind::kSettle, TimerKind::kReadyProbe}) {
    CAPTURE(static_cast<int>(k));
    CHECK(cancels(a, k));
  }
  CHECK(only<StopProbes>(a).size() == 1);
  // A probe that ends after ready changes nothing.
  CHECK(s.on(ProbeDone{1, ProbeKind::kReady, 0, false, ""}).empty());
  // Nor does a late look at the sockets.
  CHECK(s.on(AcceptingProbed{1, AcceptingProbed::Result::kNotYet, ""}).empty());
}

TEST_CASE("the exit dir stopping byed tells systemd STOPPING=1") {
  auto o = options(Millis{30000}, "./server");
  o.exit_dir = "/run/exit";
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  auto a = s.on(ExitDirEntry{"peer.exit"});
  REQUIRE(notes(a).size() == 1);
  CHECK(notes(a)[0] == "STOPPING=1");
}

TEST_CASE(
    "first generation not ready: STOPPING with the reason, or drained "
    "for a restart") {
  auto o = upgrade_options();
  o.ready_timeout = Millis{2000};
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  auto a = s.on(TimerFired{TimerId{TimerKind::kReadyTimeout, 1}});
  REQUIRE(notes(a).size() == 1);
  CHECK(notes(a)[0] == "STOPPING=1\nSTATUS=not ready: not ready within 2s");
  bool logged = false;
  for (const auto& l : only<Log>(a)) {
    logged |= l.record.message == "not ready: not ready within 2s; stopping";
  }
  CHECK(logged);

  o.restart = byed::RestartPolicy::kOnFailure;
  Supervisor r(o);
  r.on(Start{});
  r.on(Spawned{1, 100, ""});
  a = r.on(TimerFired{TimerId{TimerKind::kReadyTimeout, 1}});
  CHECK(notes(a).empty());  // no STOPPING: a restart follows
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].sig == SIGTERM);
  CHECK(arms(a, TimerKind::kDrainKill, 1));
  CHECK_FALSE(r.stopping());
}

TEST_CASE("--stop-timeout 0: no KILL timer anywhere") {
  auto s = upgrading_on_socket([] {
    Config o = socket_options();
    o.stop_timeout = Millis{0};
    return o;
  }());
  s.on(Exec{2, ""});
  seen(s, 2);
  auto a = s.on(TimerFired{TimerId{TimerKind::kSettle, 2}});
  CHECK(only<SendSignal>(a).size() == 1);  // drained
  CHECK_FALSE(arms(a, TimerKind::kDrainKill, 1));
  a = s.on(SignalReceived{SIGTERM});
  CHECK_FALSE(arms(a, TimerKind::kStopKill, 0));
  // A failed upgrade's lingering group: no timer either.
  auto f = upgrading_on_socket([] {
    Config o = socket_options();
    o.stop_timeout = Millis{0};
    return o;
  }());
  a = f.on(ChildExited{200, exited(1), true, true});
  CHECK(only<SendSignal>(a).size() == 1);
  CHECK_FALSE(arms(a, TimerKind::kDrainKill, 2));
}

TEST_CASE("nothing is forwarded while a restart waits") {
  auto o = options(Millis{30000}, "./server");
  o.restart = byed::RestartPolicy::kAlways;
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  s.on(ChildExited{100, exited(1)});
  CHECK(only<SendSignal>(s.on(SignalReceived{SIGHUP})).empty());
}

TEST_CASE("a starting generation stopped by the terminal does not stop byed") {
  auto s = serving();
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{2, 200, ""});
  CHECK(only<StopSelf>(s.on(ChildStopped{200, SIGTTIN})).empty());
  // Continuing one that was never stopped changes nothing.
  auto t = upgrading_on_socket();
  t.on(Exec{2, ""});
  seen(t, 2);
  CHECK(t.on(ChildContinued{200}).empty());
}

TEST_CASE("accepting unknown: a generation that already spoke is ready") {
  Supervisor s(socket_options());
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  s.on(Exec{1, ""});
  CHECK(
      only<WritePidfile>(s.on(ChildReady{1, "pipe"})).empty());  // + accepting
  auto a = s.on(AcceptingProbed{1, AcceptingProbed::Result::kUnknown, "x"});
  CHECK(only<WritePidfile>(a).size() == 1);
  CHECK_FALSE(arms(a, TimerKind::kReadyDelay, 1));
}

TEST_CASE("health: a failure is logged; after hung no second ABRT") {
  Config o = options(Millis{5000}, "./srv");
  o.ready.automatic = false;
  o.ready.message = true;
  o.health = "check";
  o.health_failures = 1;
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  s.on(ChildReady{1, "pipe"});
  auto a = s.on(ProbeDone{1, ProbeKind::kHealth, 0, true, "exit code 0"});
  CHECK(only<Log>(a).empty());
  a = s.on(ProbeDone{1, ProbeKind::kHealth, 0, false, "exit code 1"});
  bool warned = false;
  for (const auto& l : only<Log>(a)) {
    warned |= l.record.level == LogLevel::kWarn &&
              l.record.message == "health probe failed";
  }
  CHECK(warned);
  CHECK(only<SendSignal>(a).size() == 1);
  a = s.on(ProbeDone{1, ProbeKind::kHealth, 0, false, "exit code 1"});
  CHECK(only<SendSignal>(a).empty());
  // A health probe of another generation than the serving one: ignored.
  CHECK(s.on(ProbeDone{7, ProbeKind::kHealth, 0, false, ""}).empty());
}

TEST_CASE("the stop-timeout KILL is logged as a warning") {
  auto s = started();
  s.on(SignalReceived{SIGTERM});
  auto a = s.on(TimerFired{TimerId{TimerKind::kStopKill, 0}});
  bool warned = false;
  for (const auto& l : only<Log>(a)) {
    warned |=
        l.record.level == LogLevel::kWarn &&
        l.record.message == "still running after stop-timeout, sending KILL";
  }
  CHECK(warned);
}

namespace {
std::vector<LogRecord> warnings(const std::vector<Action>& a) {
  std::vector<LogRecord> out;
  for (const auto& l : only<Log>(a)) {
    if (l.record.level == LogLevel::kWarn) out.push_back(l.record);
  }
  return out;
}
constexpr uint64_t bit(int sig) { return 1ULL << (sig - 1); }
}  // namespace

TEST_CASE("upgrade signal caught by the program: read once ready, warn once") {
  Supervisor s(upgrade_options());
  s.on(Start{});
  auto a = s.on(Spawned{1, 100, ""});
  CHECK(only<ReadCaughtSignals>(a).empty());
  // Not at exec: the program installs its handlers later.
  CHECK(only<ReadCaughtSignals>(s.on(Exec{1, ""})).empty());
  a = s.on(ChildReady{1, "pipe"});
  auto read = only<ReadCaughtSignals>(a);
  REQUIRE(read.size() == 1);
  CHECK(read[0].gen == 1);
  CHECK(read[0].pid == 100);
  // INT and HUP only: nothing to say; the next generation is read too.
  CHECK(only<Log>(s.on(SignalsCaught{1, 100, bit(SIGINT) | bit(SIGHUP)}))
            .empty());
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{2, 200, ""});
  read = only<ReadCaughtSignals>(s.on(ChildReady{2, "pipe"}));
  REQUIRE(read.size() == 1);
  CHECK(read[0].pid == 200);
  // A stale answer (another pid) says nothing.
  CHECK(warnings(s.on(SignalsCaught{2, 999, bit(SIGUSR1)})).empty());
  auto w = warnings(s.on(SignalsCaught{2, 200, bit(SIGUSR1) | bit(SIGINT)}));
  REQUIRE(w.size() == 1);
  CHECK(w[0].gen == 2);
  CHECK(w[0].message.find("catches USR1") != std::string::npos);
  CHECK(w[0].message.find("--upgrade-signal none") != std::string::npos);
  // Once per run: not again, and not even asked for any more.
  CHECK(warnings(s.on(SignalsCaught{2, 200, bit(SIGUSR1)})).empty());
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{3, 300, ""});
  CHECK(only<ReadCaughtSignals>(s.on(ChildReady{3, "pipe"})).empty());
}

TEST_CASE("upgrade signal caught: another upgrade signal, or none") {
  Config o = upgrade_options();
  o.upgrade_signal = SIGHUP;
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  s.on(ChildReady{1, "pipe"});
  CHECK(warnings(s.on(SignalsCaught{1, 100, bit(SIGUSR1)})).empty());
  auto w = warnings(s.on(SignalsCaught{1, 100, bit(SIGHUP)}));
  REQUIRE(w.size() == 1);
  CHECK(w[0].message.find("catches HUP") != std::string::npos);

  o.upgrade_signal = 0;  // --upgrade-signal none: USR1 is the program's
  Supervisor n(o);
  n.on(Start{});
  n.on(Spawned{1, 100, ""});
  CHECK(only<ReadCaughtSignals>(n.on(ChildReady{1, "pipe"})).empty());
  CHECK(warnings(n.on(SignalsCaught{1, 100, ~0ULL})).empty());
}

namespace {
// byed's last log line, which must come right before its exit.
LogRecord last_line(const std::vector<Action>& a) {
  REQUIRE(!a.empty());
  REQUIRE(std::holds_alternative<ExitProcess>(a.back()));
  for (auto it = a.rbegin(); it != a.rend(); ++it) {
    if (auto* l = std::get_if<Log>(&*it)) return l->record;
  }
  FAIL("no log line before the exit");
  return {};
}
std::string field(const LogRecord& r, const std::string& key) {
  for (const auto& [k, v] : r.fields) {
    if (k == key) return v;
  }
  return "(none)";
}
}  // namespace

TEST_CASE("the last line: exiting, with the status and why") {
  {
    auto s = started();
    auto l = last_line(s.on(ChildExited{100, exited(3)}));
    CHECK(l.message == "exiting");
    CHECK(field(l, "status") == "3");
    CHECK(field(l, "reason") == "gen 1 exit code 3");
  }
  {
    auto s = started();
    s.on(SignalReceived{SIGTERM});
    auto l = last_line(s.on(ChildExited{100, killed(SIGTERM)}));
    CHECK(field(l, "status") == "143");
    CHECK(field(l, "reason") ==
          "stop requested by signal TERM: gen 1 killed by signal TERM");
  }
  {
    auto s = started();
    s.on(ControlRequest{1, Command::kStop});
    auto l = last_line(s.on(ChildExited{100, exited(0)}));
    CHECK(field(l, "reason") ==
          "stop requested by byed ctl stop: gen 1 exit "
          "code 0");
  }
  {
    Config o = options(Millis{1000}, "java");
    o.success_status = {143};
    Supervisor s(o);
    s.on(Start{});
    s.on(Spawned{1, 100, ""});
    auto l = last_line(s.on(ChildExited{100, killed(SIGTERM)}));
    CHECK(field(l, "status") == "0");
    CHECK(field(l, "reason") ==
          "gen 1 killed by signal TERM, a --success-status");
  }
  {
    Config o = upgrade_options();
    o.ready_timeout = Millis{2000};
    Supervisor s(o);
    s.on(Start{});
    s.on(Spawned{1, 100, ""});
    s.on(TimerFired{{TimerKind::kReadyTimeout, 1}});
    auto l = last_line(s.on(ChildExited{100, killed(SIGTERM)}));
    CHECK(field(l, "status") == "1");
    CHECK(field(l, "reason") == "gen 1 not ready: not ready within 2s");
  }
  {
    Config o = options(Millis{1000}, "x");
    o.exit_dir = "/exit";
    o.log_level = LogLevel::kWarn;
    Supervisor s(o);
    s.on(ExitDirEntry{"main.exit"});
    auto l = last_line(s.on(Start{}));
    CHECK(field(l, "status") == "0");
    CHECK(field(l, "reason") == "the exit dir already had an entry");
  }
}

TEST_CASE("\"stopping the others\" only when there are others") {
  auto message_of = [](const std::vector<Action>& a) {
    for (const auto& l : only<Log>(a)) {
      if (l.record.message.rfind("current generation ended", 0) == 0) {
        return l.record.message;
      }
    }
    return std::string("(none)");
  };
  {  // Nothing else runs: no such line, byed exits.
    auto s = started();
    auto a = s.on(ChildExited{100, exited(0)});
    CHECK(message_of(a) == "(none)");
    CHECK(exit_of(a) == 0);
  }
  {  // An old generation still draining after an upgrade.
    auto s = serving();
    take_over(s, 2, 200);
    CHECK(message_of(s.on(ChildExited{200, exited(0)})) ==
          "current generation ended: stopping the others");
  }
  {  // Only what is left of its own process group.
    auto s = started();
    ChildExited e{100, exited(0)};
    e.group_alive = true;
    e.children_left = true;
    CHECK(message_of(s.on(e)) ==
          "current generation ended: stopping what is left of its process "
          "group");
  }
  {  // Only orphans it left behind.
    auto s = started();
    ChildExited e{100, exited(0)};
    e.children_left = true;
    CHECK(message_of(s.on(e)) ==
          "current generation ended: stopping the processes it left behind");
  }
}

TEST_CASE("a generation's STATUS= is a debug line") {
  ChildSaid said;
  said.gen = 1;
  said.status = "loading";
  auto s = serving();
  auto a = s.on(said);
  CHECK(only<Log>(a).empty());
  CHECK(notes(a).size() == 1);  // still relayed to systemd
  Config o = upgrade_options();
  o.log_level = LogLevel::kDebug;
  Supervisor v(o);
  v.on(Start{});
  v.on(Spawned{1, 100, ""});
  auto logs = only<Log>(v.on(said));
  REQUIRE(logs.size() == 1);
  CHECK(logs[0].record.level == LogLevel::kDebug);
  CHECK(field(logs[0].record, "status") == "loading");
}

TEST_CASE("restart: what the crashed generation left in its group is stopped") {
  // The copy of "send the stop signal, then arm the kill timer" in
  // schedule_restart: deleting it left every core test green.
  Supervisor s(restart_options(RestartPolicy::kAlways));
  s.on(Start{}, at_ms(0));
  s.on(Spawned{1, 100, ""}, at_ms(0));
  s.on(ChildReady{1, "pipe"}, at_ms(10));
  // The leader crashed; a worker of its group still runs the old code.
  auto a = s.on(ChildExited{100, killed(SIGSEGV), true, true}, at_ms(1000));
  CHECK(restart_timer(a).has_value());
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].pid == 100);
  CHECK(sent[0].sig == SIGTERM);
  CHECK(sent[0].target == Target::kGroup);
  CHECK(arms(a, TimerKind::kDrainKill, 1));
  // Past --stop-timeout the group is killed, while the new one runs.
  s.on(TimerFired{TimerId{TimerKind::kRestart, 0}}, at_ms(1100));
  s.on(Spawned{2, 200, ""}, at_ms(1100));
  sent = only<SendSignal>(s.on(TimerFired{TimerId{TimerKind::kDrainKill, 1}}));
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].pid == 100);
  CHECK(sent[0].sig == SIGKILL);
  CHECK(sent[0].target == Target::kGroup);
}

TEST_CASE(
    "accepting: a program not waiting on the sockets after 5 s gets a hint") {
  Supervisor s(socket_options());
  s.on(Start{}, at_ms(0));
  s.on(Spawned{1, 100, ""}, at_ms(0));
  s.on(Exec{1, ""}, at_ms(100));
  auto warn_count = [](const std::vector<Action>& a) {
    int n = 0;
    for (const auto& l : only<Log>(a)) n += l.record.level == LogLevel::kWarn;
    return n;
  };
  CHECK(
      warn_count(s.on(AcceptingProbed{1, AcceptingProbed::Result::kNotYet, ""},
                      at_ms(5000))) == 0);
  auto a = s.on(AcceptingProbed{1, AcceptingProbed::Result::kNotYet, ""},
                at_ms(5100));
  REQUIRE(warn_count(a) == 1);
  CHECK(only<Log>(a)[0].record.message.find("--ready exec:CMD") !=
        std::string::npos);
  // Once.
  CHECK(
      warn_count(s.on(AcceptingProbed{1, AcceptingProbed::Result::kNotYet, ""},
                      at_ms(9000))) == 0);
}

TEST_CASE("a stop signal is sent before anything is logged or told") {
  auto s = started();
  auto a = s.on(SignalReceived{SIGTERM});
  REQUIRE_FALSE(a.empty());
  REQUIRE(std::holds_alternative<SendSignal>(a.front()));
  CHECK(std::get<SendSignal>(a.front()).sig == SIGTERM);
  CHECK(only<Log>(a).size() == 1);
  CHECK(notes(a).size() == 1);  // STOPPING=1, after the signal
}

TEST_CASE("no PIDFILE set: nothing to write at the first ready") {
  Config o = options(Millis{5000}, "./server");
  o.pidfile.clear();
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  auto a = s.on(ChildReady{1, "pipe"});
  CHECK(only<WritePidfile>(a).empty());
  CHECK_FALSE(notes(a).empty());  // READY=1 all the same
}

// ---- what the mutation check found untested, round 2 ------------------------

namespace {

// --workers n, ready by a message; generation `gen`'s worker i is pid
// base + i.
Config workers_options(int n) {
  Config o = upgrade_options(ReadyMode::kMessage);
  o.workers = n;
  return o;
}

void spawn_workers(Supervisor& s, int gen, int n, int base) {
  for (int i = 0; i < n; ++i) s.on(Spawned{gen, base + i, "", i});
}

std::vector<Action> ready_workers(Supervisor& s, int gen, int n) {
  std::vector<Action> all;
  for (int i = 0; i < n; ++i) {
    auto a = s.on(ChildReady{gen, "pipe", i});
    all.insert(all.end(), a.begin(), a.end());
  }
  return all;
}

// Gen 1 serving with n workers (pids 100, 101, ...).
Supervisor serving_workers(Config o) {
  const int n = o.workers;
  Supervisor s(std::move(o));
  s.on(Start{});
  spawn_workers(s, 1, n, 100);
  ready_workers(s, 1, n);
  REQUIRE(s.phase().index() == Phase(phase::Serving{}).index());
  return s;
}

bool cancels_id(const std::vector<Action>& a, TimerId id) {
  for (const auto& c : only<CancelTimer>(a)) {
    if (c.id == id) return true;
  }
  return false;
}

std::optional<LogRecord> line(const std::vector<Action>& a,
                              const std::string& message) {
  for (const auto& l : only<Log>(a)) {
    if (l.record.message == message) return l.record;
  }
  return std::nullopt;
}

bool has_field(const LogRecord& r, const std::string& key) {
  for (const auto& kv : r.fields) {
    if (kv.first == key) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("workers: one that ends for good is not waited for") {
  Config o = workers_options(2);
  o.restart = RestartPolicy::kNo;
  Supervisor s(o);
  s.on(Start{});
  spawn_workers(s, 1, 2, 100);
  // Worker 1 ends before it is ready, and --restart no replaces nothing:
  // the generation is ready once worker 0 is.
  auto a = s.on(ChildExited{101, exited(1)});
  CHECK(only<SpawnGeneration>(a).empty());
  CHECK_FALSE(exit_of(a));
  a = s.on(ChildReady{1, "pipe", 0});
  CHECK(only<WritePidfile>(a).size() == 1);
  CHECK(s.generations().at(0).state == Supervisor::GenState::kReady);
  // Worker 1 is still shown, as exited.
  auto st = s.status();
  REQUIRE(st.generations.size() == 1);
  REQUIRE(st.generations[0].workers.size() == 2);
  CHECK(st.generations[0].workers[1].pid == 101);
  CHECK(st.generations[0].workers[1].state == "exited");
}

TEST_CASE("workers: a replaced worker's old entry is forgotten") {
  Config o = workers_options(2);
  o.restart = RestartPolicy::kOnFailure;
  o.restart_burst = 100;
  Supervisor s = serving_workers(o);
  for (int round = 1; round <= 3; ++round) {
    CAPTURE(round);
    const int old_pid = round == 1 ? 101 : 200 + round - 1;
    auto a = s.on(ChildExited{old_pid, exited(1)});
    REQUIRE(arms(a, TimerKind::kRestart, 1));
    a = s.on(TimerFired{TimerId{TimerKind::kRestart, 1, 1}});
    REQUIRE(only<SpawnGeneration>(a).size() == 1);
    s.on(Spawned{1, 200 + round, "", 1});
    s.on(ChildReady{1, "pipe", 1});
    // One entry per worker: the ended one is not kept.
    CHECK(s.generations().at(0).workers.size() == 2);
    auto st = s.status();
    REQUIRE(st.generations.at(0).workers.size() == 2);
    CHECK(st.generations[0].workers[1].pid == 200 + round);
    CHECK(st.generations[0].workers[1].restarts == round);
  }
  // Stopped, byed ends once both are gone.
  s.on(SignalReceived{SIGTERM});
  s.on(ChildExited{100, killed(SIGTERM)});
  CHECK(exit_of(s.on(ChildExited{203, killed(SIGTERM)})) == 143);
}

TEST_CASE("workers: ctl workers grows, answers once ready, and shrinks") {
  Config o = workers_options(2);
  o.health = "check";
  Supervisor s = serving_workers(o);
  // Grow to 3: worker 2 starts; the answer waits for it to be ready.
  auto a = s.on(ControlRequest{7, Command::kWorkers, 3});
  auto sp = only<SpawnGeneration>(a);
  REQUIRE(sp.size() == 1);
  CHECK(sp[0].worker == 2);
  CHECK(sp[0].workers == 3);
  CHECK(only<ReplyWorkers>(a).empty());
  // systemd hears the new count at once.
  CHECK(notes(a) ==
        std::vector<std::string>{"STATUS=2/3 workers ready, gen 1"});
  s.on(Spawned{1, 102, "", 2});
  a = s.on(ChildReady{1, "pipe", 2});
  auto r = only<ReplyWorkers>(a);
  REQUIRE(r.size() == 1);
  CHECK(r[0].conn == 7);
  CHECK(r[0].workers == 3);
  // It serves: health-checked, and systemd hears the new count.
  CHECK(armed_for(a, TimerKind::kHealth, 1) == o.health_interval);
  CHECK(notes(a) ==
        std::vector<std::string>{"STATUS=3/3 workers ready, gen 1"});

  // Shrink to 1: workers 1 and 2 drain; once gone they are forgotten.
  a = s.on(ControlRequest{8, Command::kWorkers, 1});
  CHECK(only<SendSignal>(a).size() == 2);
  REQUIRE(only<ReplyWorkers>(a).size() == 1);
  s.on(ChildExited{101, killed(SIGTERM)});
  s.on(ChildExited{102, killed(SIGTERM)});
  CHECK(s.generations().at(0).workers.size() == 1);
  auto st = s.status();
  REQUIRE(st.generations.size() == 1);
  REQUIRE(st.generations[0].workers.size() == 1);
  CHECK(st.generations[0].workers[0].pid == 100);
}

TEST_CASE("lines name the worker only with --workers") {
  Supervisor one(upgrade_options());
  one.on(Start{});
  one.on(Spawned{1, 100, ""});
  auto l = line(one.on(Exec{1, ""}), "started");
  REQUIRE(l);
  CHECK_FALSE(has_field(*l, "worker"));

  Supervisor two(workers_options(2));
  two.on(Start{});
  spawn_workers(two, 1, 2, 100);
  l = line(two.on(Exec{1, "", 1}), "started");
  REQUIRE(l);
  CHECK(field(*l, "worker") == "1");
}

TEST_CASE("one process: no per-worker ready line, even at debug") {
  Config o = upgrade_options();
  o.log_level = LogLevel::kDebug;
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  auto a = s.on(ChildReady{1, "pipe"});
  CHECK(line(a, "ready"));
  CHECK_FALSE(line(a, "worker ready"));
}

TEST_CASE(
    "a repeated Spawned changes nothing; an Exec for nothing is dropped") {
  auto s = started();
  CHECK(s.on(Spawned{1, 999, ""}).empty());
  CHECK(s.generations().at(0).workers.at(0).pid == 100);
  CHECK(s.on(Exec{7, ""}).empty());
  CHECK(s.on(Exec{1, "", 3}).empty());
}

TEST_CASE("--wait-for: a 1ms timeout is armed; the wait's own timer goes") {
  auto o = options(Millis{30000}, "./server");
  o.ready_dir = "/run/ready";
  o.wait_for = {"db"};
  o.wait_for_timeout = Millis{1};
  Supervisor s(o);
  CHECK(armed_for(s.on(Start{}), TimerKind::kWaitFor, 0) == Millis{1});
  CHECK(cancels_id(s.on(ReadyDirEntry{"db.ready"}),
                   TimerId{TimerKind::kWaitFor, 0}));
}

TEST_CASE("auto without sockets: ready via alive 1s") {
  auto s = started();
  s.on(Exec{1, ""});
  auto l = line(s.on(TimerFired{TimerId{TimerKind::kReadyDelay, 1}}), "ready");
  REQUIRE(l);
  CHECK(field(*l, "via") == "alive 1s");
}

TEST_CASE("ctl workers: refused with a reason, and a waiter told at a stop") {
  {
    auto s = serving();  // one process
    auto e = only<ReplyError>(s.on(ControlRequest{1, Command::kWorkers, 2}));
    REQUIRE(e.size() == 1);
    CHECK(e[0].message == "byed runs one process: start it with --workers N");
  }
  Supervisor s = serving_workers(workers_options(2));
  auto e = only<ReplyError>(s.on(ControlRequest{2, Command::kWorkers, 0}));
  REQUIRE(e.size() == 1);
  CHECK(e[0].message == "workers: at least 1");
  CHECK(s.status().workers == 2);
  {
    Supervisor t(workers_options(2));
    t.on(Start{});
    e = only<ReplyError>(t.on(ControlRequest{3, Command::kWorkers, 3}));
    REQUIRE(e.size() == 1);
    CHECK(e[0].message == "byed is starting: try again once it serves");
  }
  {
    Config o = workers_options(2);
    o.stop_delay = Millis{5000};
    Supervisor t = serving_workers(o);
    t.on(SignalReceived{SIGTERM});
    e = only<ReplyError>(t.on(ControlRequest{4, Command::kWorkers, 3}));
    REQUIRE(e.size() == 1);
    CHECK(e[0].message == "byed is stopping");
  }
  // Waiting for a third worker when a stop comes: told, not left hanging.
  s.on(ControlRequest{5, Command::kWorkers, 3});
  auto a = s.on(SignalReceived{SIGTERM});
  e = only<ReplyError>(a);
  REQUIRE(e.size() == 1);
  CHECK(e[0].conn == 5);
  CHECK(e[0].message == "byed is stopping");
  CHECK(only<ReplyError>(s.on(ChildExited{100, killed(SIGTERM)})).empty());
}

TEST_CASE("rolling upgrade: a batch at a time, signals to who took over") {
  Config o = workers_options(2);
  o.upgrade_batch = 1;
  Supervisor s = serving_workers(o);
  s.on(ControlRequest{9, Command::kUpgrade});
  auto a = s.on(SignalReceived{SIGUSR1});
  CHECK(only<SpawnGeneration>(a).empty());  // joined the one in flight
  auto st = s.status();
  REQUIRE(st.generations.size() == 2);
  REQUIRE(st.generations[1].workers.size() == 1);  // the first batch only
  s.on(Spawned{2, 200, "", 0});
  a = s.on(ChildReady{2, "pipe", 0});
  // The old worker 0 drains, new worker 1 starts.
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].pid == 100);
  CHECK(sent[0].sig == SIGTERM);
  auto sp = only<SpawnGeneration>(a);
  REQUIRE(sp.size() == 1);
  CHECK(sp[0].gen == 2);
  CHECK(sp[0].worker == 1);
  CHECK(notes(a) ==
        std::vector<std::string>{"STATUS=upgrading: 1/2 workers of gen 2"});
  CHECK(only<ReplyUpgrade>(a).empty());
  CHECK(s.current() == 1);
  s.on(Spawned{2, 201, "", 1});
  // A forwarded signal: the old worker 1, and the new worker 0 that took
  // over; not the new worker 1, still starting.
  std::vector<int> hup;
  for (const auto& x : only<SendSignal>(s.on(SignalReceived{SIGHUP}))) {
    hup.push_back(x.pid);
  }
  CHECK(std::count(hup.begin(), hup.end(), 101) == 1);
  CHECK(std::count(hup.begin(), hup.end(), 200) == 1);
  CHECK(std::count(hup.begin(), hup.end(), 201) == 0);
  a = s.on(ChildReady{2, "pipe", 1});
  CHECK(s.current() == 2);
  auto r = only<ReplyUpgrade>(a);
  REQUIRE(r.size() == 1);
  CHECK(r[0].conn == 9);
  CHECK(r[0].result.ok);
  CHECK(r[0].result.upgraded == 2);
  CHECK(r[0].result.workers == 2);
  // The rest of the old generation drains.
  sent = only<SendSignal>(a);
  bool drained_101 = false;
  for (const auto& x : sent) drained_101 |= x.pid == 101 && x.sig == SIGTERM;
  CHECK(drained_101);
}

TEST_CASE("rolling upgrade: a failure keeps the old workers that remain") {
  Config o = workers_options(2);
  o.upgrade_batch = 1;
  Supervisor s = serving_workers(o);
  s.on(ControlRequest{9, Command::kUpgrade});
  s.on(Spawned{2, 200, "", 0});
  s.on(ChildReady{2, "pipe", 0});
  s.on(Spawned{2, 201, "", 1});
  auto a = s.on(ChildExited{201, exited(3)});
  auto failed = line(a,
                     "upgrade failed: exited before it was ready (exit "
                     "code 3) (1/2 workers upgraded)");
  REQUIRE(failed);
  CHECK(failed->level == LogLevel::kError);
  auto rest = line(a, "serving with the old workers that remain");
  REQUIRE(rest);
  CHECK(field(*rest, "workers") == "1/2");
  auto r = only<ReplyUpgrade>(a);
  REQUIRE(r.size() == 1);
  CHECK_FALSE(r[0].result.ok);
  CHECK(r[0].result.upgraded == 1);
  CHECK(r[0].result.workers == 2);
  // The new worker 0 that took over is stopped with its generation.
  bool stopped_200 = false;
  for (const auto& x : only<SendSignal>(a)) stopped_200 |= x.pid == 200;
  CHECK(stopped_200);
  CHECK(s.current() == 1);
  CHECK(s.upgrading() == 0);
}

TEST_CASE("settle with workers: the line says how many of how many") {
  Config o = workers_options(2);
  o.upgrade_batch = 1;
  o.ready_settle = Millis{300};
  Supervisor s = serving_workers(o);
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{2, 200, "", 0});
  auto a = s.on(ChildReady{2, "pipe", 0});
  auto l = line(a, "ready; settling");
  REQUIRE(l);
  CHECK(field(*l, "workers") == "1/2");
  CHECK(field(*l, "settle") == "300ms");
  CHECK(armed_for(a, TimerKind::kSettle, 2) == Millis{300});
  CHECK(only<SendSignal>(a).empty());  // nothing drained before it settles

  Config p = upgrade_options();
  p.ready_settle = Millis{300};
  Supervisor t(p);
  t.on(Start{});
  t.on(Spawned{1, 100, ""});
  t.on(ChildReady{1, "pipe"});
  t.on(SignalReceived{SIGUSR1});
  t.on(Spawned{2, 200, ""});
  l = line(t.on(ChildReady{2, "pipe"}), "ready; settling");
  REQUIRE(l);
  CHECK_FALSE(has_field(*l, "workers"));
}

TEST_CASE("workers: an upgrade without --upgrade-batch starts every worker") {
  Supervisor s = serving_workers(workers_options(3));
  auto sp = only<SpawnGeneration>(s.on(SignalReceived{SIGUSR1}));
  REQUIRE(sp.size() == 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(sp[i].gen == 2);
    CHECK(sp[i].worker == i);
  }
}

TEST_CASE("workers: --workers 1 is one worker, counted") {
  Config o = workers_options(1);
  Supervisor s = serving_workers(o);
  auto a = s.on(ControlRequest{1, Command::kWorkers, 2});
  CHECK(only<ReplyError>(a).empty());
  CHECK(only<SpawnGeneration>(a).size() == 1);
  s.on(Spawned{1, 101, "", 1});
  s.on(ControlRequest{2, Command::kWorkers, 1});
  s.on(ChildExited{101, killed(SIGTERM)});
  // An upgrade's drain line counts the workers drained.
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{2, 200, "", 0});
  auto l = line(s.on(ChildReady{2, "pipe", 0}), "draining");
  REQUIRE(l);
  CHECK(field(*l, "workers") == "1");
}

TEST_CASE("workers: a worker's back-off is cancelled when it is not needed") {
  Config o = workers_options(3);
  o.restart = RestartPolicy::kOnFailure;
  // Shrunk below it.
  Supervisor s = serving_workers(o);
  s.on(ChildExited{102, exited(1)});
  auto a = s.on(ControlRequest{1, Command::kWorkers, 2});
  CHECK(cancels_id(a, TimerId{TimerKind::kRestart, 1, 2}));
  CHECK(only<SpawnGeneration>(a).empty());
  // Its generation drained by an upgrade.
  Supervisor t = serving_workers(o);
  t.on(ChildExited{101, exited(1)});
  t.on(SignalReceived{SIGUSR1});
  spawn_workers(t, 2, 3, 200);
  a = ready_workers(t, 2, 3);
  CHECK(cancels_id(a, TimerId{TimerKind::kRestart, 1, 1}));
  CHECK(only<SpawnGeneration>(
            t.on(TimerFired{TimerId{TimerKind::kRestart, 1, 1}}))
            .empty());
  // A timer for a worker that waits for nothing starts nothing.
  CHECK(only<SpawnGeneration>(
            t.on(TimerFired{TimerId{TimerKind::kRestart, 2, 0}}))
            .empty());
  CHECK(t.on(TimerFired{TimerId{TimerKind::kSettle, 9}}).empty());
}

TEST_CASE("workers: an ended worker is counted out, then replaced") {
  Config o = workers_options(2);
  o.restart = RestartPolicy::kOnFailure;
  o.restart_burst = 1;
  Supervisor s = serving_workers(o);
  auto a = s.on(ChildExited{101, exited(1)}, at_ms(1000));
  CHECK(notes(a) ==
        std::vector<std::string>{"STATUS=1/2 workers ready, gen 1"});
  s.on(TimerFired{TimerId{TimerKind::kRestart, 1, 1}}, at_ms(1100));
  s.on(Spawned{1, 201, "", 1}, at_ms(1100));
  s.on(ChildReady{1, "pipe", 1}, at_ms(1200));
  // A second crash within the interval: the burst limit ends byed, with
  // the worker's status.
  a = s.on(ChildExited{201, exited(4)}, at_ms(2000));
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].pid == 100);
  CHECK(s.stopping());
  CHECK(exit_of(s.on(ChildExited{100, killed(SIGTERM)}, at_ms(2100))) == 4);
}

TEST_CASE("the stop-timeout KILL spares workers that are gone or unborn") {
  Supervisor s = serving_workers(workers_options(2));
  s.on(SignalReceived{SIGUSR1});  // gen 2 asked for, not forked yet
  s.on(SignalReceived{SIGTERM});
  s.on(ChildExited{100, killed(SIGTERM)});
  auto sent =
      only<SendSignal>(s.on(TimerFired{TimerId{TimerKind::kStopKill, 0}}));
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].pid == 101);
  CHECK(sent[0].sig == SIGKILL);
}

TEST_CASE("upgrade requests: queued said once, ignored while stopping") {
  auto s = serving();
  s.on(SignalReceived{SIGUSR1});
  auto queued = [](const std::vector<Action>& a) {
    return line(a, "upgrade queued").has_value();
  };
  CHECK(queued(s.on(SignalReceived{SIGUSR1})));
  CHECK_FALSE(queued(s.on(SignalReceived{SIGUSR1})));
  s.on(SignalReceived{SIGTERM});
  auto l = line(s.on(SignalReceived{SIGUSR1}), "upgrade ignored: stopping");
  REQUIRE(l);
  CHECK(l->level == LogLevel::kWarn);
}

TEST_CASE("a stop by a rewritten signal says so; forwarding is a debug line") {
  Config o = upgrade_options();
  o.rewrite = {{SIGINT, SIGTERM}, {SIGUSR2, 0}};
  o.log_level = LogLevel::kDebug;
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  s.on(ChildReady{1, "pipe"});
  auto dropped = s.on(SignalReceived{SIGUSR2});
  CHECK(only<SendSignal>(dropped).empty());
  auto why = line(dropped, "signal ignored (--rewrite)");
  REQUIRE(why);
  CHECK(field(*why, "signal") == "USR2");
  auto l = line(s.on(SignalReceived{SIGHUP}), "forwarding signal");
  REQUIRE(l);
  CHECK(field(*l, "pid") == "100");
  s.on(SignalReceived{SIGINT});
  auto last = last_line(s.on(ChildExited{100, killed(SIGTERM)}));
  CHECK(field(last, "reason") ==
        "stop requested by signal INT (rewritten): gen 1 killed by signal "
        "TERM");
}

TEST_CASE("--stop-delay during an upgrade abandons it; 1ms is a delay") {
  Config o = upgrade_options();
  o.stop_delay = Millis{1};
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  s.on(ChildReady{1, "pipe"});
  s.on(ControlRequest{4, Command::kUpgrade});
  s.on(Spawned{2, 200, ""});
  auto a = s.on(SignalReceived{SIGTERM});
  CHECK(armed_for(a, TimerKind::kStopDelay, 0) == Millis{1});
  auto r = only<ReplyUpgrade>(a);
  REQUIRE(r.size() == 1);
  CHECK(r[0].result.reason == "byed is stopping");
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);  // the new one goes; the old one serves on
  CHECK(sent[0].pid == 200);
}

TEST_CASE("a stop cancels byed's own restart timer and every probe") {
  Config o = restart_options(RestartPolicy::kOnFailure);
  o.health = "check";
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  s.on(ChildReady{1, "pipe"});
  s.on(ChildExited{100, killed(SIGKILL)});
  auto a = s.on(SignalReceived{SIGTERM});
  CHECK(cancels_id(a, TimerId{TimerKind::kRestart, 0}));
  auto p = only<StopProbes>(a);
  REQUIRE(p.size() == 1);
  CHECK(p[0].gen == 0);
}

TEST_CASE("restart: the time of the next attempt carries over a second") {
  Config o = restart_options(RestartPolicy::kOnFailure);
  o.restart_delay = Millis{1000};
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  s.on(ChildReady{1, "pipe"});
  s.on(ChildExited{100, exited(1)}, Now{timespec{10, 500000000}});
  REQUIRE(s.status().next_restart_at);
  CHECK(s.status().next_restart_at->tv_sec == 11);
  CHECK(s.status().next_restart_at->tv_nsec == 500000000);

  o.restart_delay = Millis{1500};
  Supervisor t(o);
  t.on(Start{});
  t.on(Spawned{1, 100, ""});
  t.on(ChildReady{1, "pipe"});
  t.on(ChildExited{100, exited(1)}, Now{timespec{10, 500000000}});
  REQUIRE(t.status().next_restart_at);
  CHECK(t.status().next_restart_at->tv_sec == 12);
  CHECK(t.status().next_restart_at->tv_nsec == 0);
}

TEST_CASE("a settling generation's pings are not relayed") {
  Config o = upgrade_options();
  o.systemd_watchdog_usec = 2000000;
  o.ready_settle = Millis{300};
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  s.on(ChildReady{1, "pipe"});
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{2, 200, ""});
  s.on(ChildReady{2, "pipe"});  // ready, settling: gen 1 still serves
  ChildSaid ping;
  ping.gen = 2;
  ping.watchdog = true;
  CHECK(notes(s.on(ping)).empty());
}

TEST_CASE("the serving one's end cancels its watchdog and health checks") {
  Config o = restart_options(RestartPolicy::kOnFailure);
  o.watchdog = Millis{2000};
  o.health = "check";
  Supervisor s(o);
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  s.on(ChildReady{1, "pipe"});
  auto a = s.on(ChildExited{100, killed(SIGTERM)});
  CHECK(cancels_id(a, TimerId{TimerKind::kWatchdog, 1}));
  CHECK(cancels_id(a, TimerId{TimerKind::kHealth, 1}));
  auto p = only<StopProbes>(a);
  REQUIRE(p.size() == 1);
  CHECK(p[0].gen == 1);
  CHECK(p[0].worker == 0);
  // Killed by TERM from elsewhere is a crash like any, not "not ready".
  CHECK(s.status().last_restart_reason == "gen 1 killed by signal TERM");
  auto l = line(a, "restarting");
  REQUIRE(l);
  CHECK(l->level == LogLevel::kWarn);
  CHECK(field(*l, "reason") == "gen 1 killed by signal TERM");
  // One process in its back-off: nothing running to show.
  CHECK(s.status().generations.empty());
}

TEST_CASE("workers: a drain KILL goes to its own worker only") {
  Supervisor s = serving_workers(workers_options(2));
  s.on(SignalReceived{SIGUSR1});
  spawn_workers(s, 2, 2, 200);
  ready_workers(s, 2, 2);
  auto sent =
      only<SendSignal>(s.on(TimerFired{TimerId{TimerKind::kDrainKill, 1, 0}}));
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].pid == 100);
  CHECK(sent[0].sig == SIGKILL);
}

TEST_CASE("workers: a replacement not ready in time is tried again") {
  Config o = workers_options(2);
  o.restart = RestartPolicy::kOnFailure;
  o.ready_timeout = Millis{3000};
  Supervisor s = serving_workers(o);
  s.on(ChildExited{101, exited(1)});
  s.on(TimerFired{TimerId{TimerKind::kRestart, 1, 1}});
  s.on(Spawned{1, 201, "", 1});
  auto a = s.on(TimerFired{TimerId{TimerKind::kReadyTimeout, 1, 1}});
  auto sent = only<SendSignal>(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].pid == 201);
  CHECK(sent[0].sig == SIGTERM);
  // It took its TERM well (exit 0): still a failure, replaced again.
  a = s.on(ChildExited{201, exited(0)});
  CHECK(arms(a, TimerKind::kRestart, 1));
}

TEST_CASE("workers: status shows the one worker of --workers 1 restarting") {
  Config o = workers_options(1);
  o.restart = RestartPolicy::kOnFailure;
  Supervisor s = serving_workers(o);
  s.on(ChildExited{100, exited(1)});
  auto st = s.status();
  REQUIRE(st.generations.size() == 1);
  REQUIRE(st.generations[0].workers.size() == 1);
  CHECK(st.generations[0].workers[0].state == "restarting");
}

TEST_CASE("the accepting hint counts from an exec at time 0") {
  Supervisor s(socket_options());
  s.on(Start{}, at_ms(0));
  s.on(Spawned{1, 100, ""}, at_ms(0));
  s.on(Exec{1, ""}, at_ms(0));
  auto a = s.on(AcceptingProbed{1, AcceptingProbed::Result::kNotYet, ""},
                at_ms(5000));
  CHECK(line(a,
             "not waiting on the held sockets yet; a program that binds "
             "its own port instead needs --ready exec:CMD or --ready DUR"));
}

TEST_CASE("an upgrade cut short by a stop is kept for status") {
  auto s = serving();
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{2, 200, ""});
  s.on(SignalReceived{SIGTERM});
  auto st = s.status();
  REQUIRE(st.last_upgrade);
  CHECK_FALSE(st.last_upgrade->ok);
  CHECK(st.last_upgrade->gen == 2);
  CHECK(st.last_upgrade->reason == "byed is stopping");
}

TEST_CASE("status: the generations that run, the current one marked") {
  auto s = serving();
  s.on(SignalReceived{SIGUSR1});
  s.on(Spawned{2, 200, ""});
  auto st = s.status();
  CHECK(st.phase == "upgrading");
  CHECK(st.upgrading);
  REQUIRE(st.generations.size() == 2);
  CHECK(st.generations[0].num == 1);
  CHECK(st.generations[0].pid == 100);
  CHECK(st.generations[0].state == "ready");
  CHECK(st.generations[0].current);
  CHECK(st.generations[1].num == 2);
  CHECK(st.generations[1].state == "starting");
  CHECK_FALSE(st.generations[1].current);
}

TEST_CASE("--wait-for: the generation started after the wait is the current") {
  auto o = options(Millis{30000}, "./server");
  o.ready_dir = "/run/ready";
  o.wait_for = {"db"};
  Supervisor s(o);
  s.on(Start{true, {}});
  auto sp = only<SpawnGeneration>(s.on(ReadyDirEntry{"db.ready"}));
  REQUIRE(sp.size() == 1);
  CHECK(sp[0].take_terminal);
  s.on(Spawned{1, 100, ""});
  auto sent = only<SendSignal>(s.on(SignalReceived{SIGHUP}));
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].pid == 100);
}

TEST_CASE("rollback of one process: no worker counts, no 'old workers' line") {
  auto s = serving();
  s.on(ControlRequest{3, Command::kUpgrade});
  s.on(Spawned{2, 200, ""});
  auto a = s.on(ChildExited{200, exited(1)});
  CHECK_FALSE(line(a, "serving with the old workers that remain"));
  auto r = only<ReplyUpgrade>(a);
  REQUIRE(r.size() == 1);
  CHECK(r[0].result.workers == 0);
  CHECK(r[0].result.upgraded == 0);
}

TEST_CASE("a ready timeout that fires while stopping stops nothing again") {
  Supervisor s(upgrade_options());
  s.on(Start{});
  s.on(Spawned{1, 100, ""});
  s.on(SignalReceived{SIGTERM});
  auto a = s.on(TimerFired{TimerId{TimerKind::kReadyTimeout, 1}});
  CHECK(only<SendSignal>(a).empty());
  CHECK(notes(a).empty());
}

TEST_CASE("workers: a stop cancels a worker's back-off, and byed ends") {
  Config o = workers_options(2);
  o.restart = RestartPolicy::kOnFailure;
  Supervisor s = serving_workers(o);
  s.on(ChildExited{101, exited(1)});
  auto a = s.on(SignalReceived{SIGTERM});
  CHECK(cancels_id(a, TimerId{TimerKind::kRestart, 1, 1}));
  CHECK_FALSE(cancels_id(a, TimerId{TimerKind::kRestart, 1, 0}));
  CHECK(exit_of(s.on(ChildExited{100, killed(SIGTERM)})) == 143);
}

TEST_CASE("workers: the last one not ready ends for good: the rest is ready") {
  Config o = workers_options(2);
  o.restart = RestartPolicy::kNo;
  Supervisor s(o);
  s.on(Start{});
  spawn_workers(s, 1, 2, 100);
  CHECK(only<WritePidfile>(s.on(ChildReady{1, "pipe", 0})).empty());
  auto a = s.on(ChildExited{101, exited(1)});
  CHECK(only<WritePidfile>(a).size() == 1);
  CHECK(s.generations().at(0).state == Supervisor::GenState::kReady);
}
