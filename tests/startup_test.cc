#include "startup.h"

#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>

#include "signals.h"

using namespace byed;

namespace {

Config base() {
  Config c;
  c.command = {"./srv"};
  return c;
}

}  // namespace

TEST_CASE("start-up: an inherited SIGCHLD ignore is undone, the rest stay") {
  StartupPlan p = plan_startup(base(), {{SIGHUP, SIGCHLD, SIGINT}, false});
  CHECK(p.reset_sigchld);
  CHECK(p.ignored == std::vector<int>{SIGHUP, SIGINT});
  REQUIRE(p.notes.size() == 2);
  CHECK(p.notes[0].level == LogLevel::kWarn);
  CHECK(p.notes[0].gen == 0);  // about byed, not a generation
  CHECK(p.notes[1].gen == 0);
  CHECK(p.notes[0].message.find("SIGCHLD") != std::string::npos);
  CHECK(p.notes[1].level == LogLevel::kWarn);
  CHECK(p.notes[1].fields == LogFields{{"signals", "HUP,INT"}});

  StartupPlan only_chld = plan_startup(base(), {{SIGCHLD}, false});
  CHECK(only_chld.reset_sigchld);
  CHECK(only_chld.ignored.empty());
  CHECK(only_chld.notes.size() == 1);

  StartupPlan none = plan_startup(base(), {{}, false});
  CHECK_FALSE(none.reset_sigchld);
  CHECK(none.ignored.empty());
  CHECK(none.notes.empty());

  StartupPlan hup = plan_startup(base(), {{SIGHUP}, false});
  CHECK_FALSE(hup.reset_sigchld);
  CHECK(hup.ignored == std::vector<int>{SIGHUP});
  REQUIRE(hup.notes.size() == 1);
  CHECK(hup.notes[0].fields == LogFields{{"signals", "HUP"}});
}

TEST_CASE("start-up: every caught signal is watched but the ignored ones") {
  StartupPlan p = plan_startup(base(), {{SIGHUP, SIGCHLD}, false});
  std::vector<int> expected;
  for (int sig : caught_signals()) {
    if (sig != SIGHUP) expected.push_back(sig);
  }
  CHECK(p.watched == expected);
  // SIGCHLD is watched again once its ignore is undone: byed reaps.
  CHECK(std::find(p.watched.begin(), p.watched.end(), SIGCHLD) !=
        p.watched.end());
  CHECK(plan_startup(base(), {}).watched == caught_signals());
}

TEST_CASE("start-up: subreaper unless PID 1; --no-subreaper is warned of") {
  Config c = base();
  StartupPlan p = plan_startup(c, {});
  CHECK(p.become_subreaper);
  CHECK_FALSE(p.reaper_note.has_value());

  StartupPlan pid1 = plan_startup(c, {{}, true});
  CHECK_FALSE(pid1.become_subreaper);
  CHECK_FALSE(pid1.reaper_note.has_value());

  c.subreaper = false;
  StartupPlan no = plan_startup(c, {});
  CHECK_FALSE(no.become_subreaper);
  REQUIRE(no.reaper_note.has_value());
  CHECK(no.reaper_note->level == LogLevel::kWarn);
  CHECK(no.reaper_note->gen == 0);
  CHECK_FALSE(plan_startup(c, {{}, true}).reaper_note.has_value());
}

TEST_CASE("start-up: what is configured is set up") {
  StartupPlan none = plan_startup(base(), {});
  CHECK_FALSE(none.make_ready_dir);
  CHECK_FALSE(none.listen_control);
  CHECK_FALSE(none.watch_exit_dir);
  CHECK(none.parent_death_signal == 0);
  CHECK_FALSE(none.clear_stale_pidfile);

  Config c = base();
  c.ready_dir = "/run/ready";
  c.control = "/run/ctl";
  c.exit_dir = "/exit";
  c.parent_death_signal = SIGTERM;
  c.pidfile = "/run/x.pid";
  StartupPlan all = plan_startup(c, {});
  CHECK(all.make_ready_dir);
  CHECK(all.listen_control);
  CHECK(all.watch_exit_dir);
  CHECK(all.parent_death_signal == SIGTERM);
  CHECK(all.clear_stale_pidfile);

  // A leader only leaves a marker: it watches nothing.
  c.exit_follower = false;
  CHECK_FALSE(plan_startup(c, {}).watch_exit_dir);
}

TEST_CASE("start-up: exit codes of a failing step") {
  CHECK(startup_exit_code(StartupStep::kExitDir) == 2);
  CHECK(startup_exit_code(StartupStep::kReadyDir) == 1);
  CHECK(startup_exit_code(StartupStep::kSignals) == 1);
  CHECK(startup_exit_code(StartupStep::kControl) == 1);
  CHECK(kExitUndecided == 1);
}

TEST_CASE("stale pidfile: removed unless it names a live byed") {
  const std::string path = "/run/x.pid";
  // Nothing there, or our own pid: nothing to do or say.
  PidfileVerdict v = judge_pidfile(path, -1, 50, false, "");
  CHECK_FALSE(v.remove);
  CHECK(v.note.empty());
  v = judge_pidfile(path, 0, 50, false, "");
  CHECK_FALSE(v.remove);
  CHECK(v.note.empty());
  v = judge_pidfile(path, 50, 50, true, "byed");
  CHECK_FALSE(v.remove);
  CHECK(v.note.empty());

  v = judge_pidfile(path, 40, 50, true, "byed");
  CHECK_FALSE(v.remove);
  CHECK(v.note ==
        "pidfile /run/x.pid names a running byed (pid 40); it is replaced "
        "once this one is ready");

  v = judge_pidfile(path, 40, 50, false, "");
  CHECK(v.remove);
  CHECK(v.note == "removed stale pidfile /run/x.pid (pid 40 is gone)");

  v = judge_pidfile(path, 40, 50, true, "nginx");
  CHECK(v.remove);
  CHECK(v.note == "removed stale pidfile /run/x.pid (pid 40 is now nginx)");

  v = judge_pidfile(path, 1, 50, true, "systemd");
  CHECK(v.remove);
  CHECK(v.note == "removed stale pidfile /run/x.pid (pid 1 is now systemd)");

  v = judge_pidfile(path, 40, 50, true, "");
  CHECK(v.remove);
  CHECK(v.note ==
        "removed stale pidfile /run/x.pid (pid 40 is now another process)");
}
