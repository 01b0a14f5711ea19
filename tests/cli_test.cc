// byed's command line and environment: argv and variables in, a Config or
// a one-line error out.
#include "cli.h"

#include <doctest/doctest.h>
#include <signal.h>

#include <string>
#include <vector>

#include "text.h"

using byed::Config;
using byed::Env;
using byed::Millis;
using byed::ParseOutcome;

namespace {

struct Parsed {
  bool ok = false;
  Config config;
  std::string err;
  ParseOutcome outcome = ParseOutcome::kRun;
};

Parsed parse(std::vector<std::string> args, const Env& env = {}) {
  std::vector<const char*> argv{"byed"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  Parsed p;
  p.ok = byed::parse_args(static_cast<int>(argv.size() - 1), argv.data(), env,
                          &p.config, &p.err, &p.outcome);
  return p;
}

// The config of a command line that must parse.
Config ok(std::vector<std::string> args, const Env& env = {}) {
  Parsed p = parse(std::move(args), env);
  REQUIRE_MESSAGE(p.ok, p.err);
  CHECK(p.outcome == ParseOutcome::kRun);
  return p.config;
}

// The error of a command line that must not parse: one line.
std::string error(std::vector<std::string> args, const Env& env = {}) {
  Parsed p = parse(std::move(args), env);
  CHECK_FALSE(p.ok);
  CHECK(p.err.find('\n') == std::string::npos);
  CHECK_FALSE(p.err.empty());
  return p.err;
}

}  // namespace

TEST_CASE("cli: a bare program gets every default") {
  Config c = ok({"--", "/usr/bin/server", "-x"});
  Config d;
  CHECK(c.command == std::vector<std::string>{"/usr/bin/server", "-x"});
  CHECK(c.name == "server");
  CHECK(c.stop_timeout == d.stop_timeout);
  CHECK(c.upgrade_signal == SIGUSR1);
  CHECK(c.drain_signal == SIGTERM);
  CHECK(c.ready.automatic);
  CHECK_FALSE(c.ready_settle.has_value());
  CHECK(c.restart == byed::RestartPolicy::kNo);
  CHECK(c.log_level == byed::LogLevel::kInfo);
  CHECK(c.subreaper);
  CHECK_FALSE(c.forward_to_group);
  CHECK(c.listen.empty());
  CHECK(c.exit_dir.empty());
  CHECK(c.exit_leader);
  CHECK(c.exit_follower);
}

TEST_CASE("cli: the command starts at the first non-option or after --") {
  CHECK(ok({"/bin/echo", "-q", "--x"}).command ==
        std::vector<std::string>{"/bin/echo", "-q", "--x"});
  CHECK(ok({"-q", "--", "/bin/echo", "--", "-q"}).command ==
        std::vector<std::string>{"/bin/echo", "--", "-q"});
  // A repeatable option takes one value: the program is not eaten.
  Config c = ok({"--listen", "8080", "server", "arg"});
  CHECK(c.command == std::vector<std::string>{"server", "arg"});
  CHECK(c.listen.size() == 1);
}

TEST_CASE("cli: every valued option reaches its field") {
  Config c = ok({"--stop-timeout",
                 "5s",
                 "--upgrade-signal",
                 "HUP",
                 "--forward-to",
                 "group",
                 "--exit-role",
                 "follower",
                 "--ready-timeout",
                 "1m",
                 "--ready-settle",
                 "2s",
                 "--ready-interval",
                 "1s",
                 "--health",
                 "exec:true",
                 "--health-interval",
                 "3s",
                 "--health-failures",
                 "4",
                 "--stop-delay",
                 "500ms",
                 "--ready-dir",
                 "/run/ready",
                 "--wait-for",
                 "db,cache",
                 "--wait-for-timeout",
                 "9s",
                 "--drain-signal",
                 "QUIT",
                 "--restart",
                 "on-failure",
                 "--restart-delay",
                 "200ms",
                 "--restart-limit",
                 "3/10s",
                 "--watchdog",
                 "20s",
                 "--ready",
                 "message",
                 "--ready",
                 "exec:test -e /tmp/a,b",
                 "--rewrite",
                 "TERM:QUIT",
                 "--rewrite",
                 "USR2:none",
                 "--success-status",
                 "143",
                 "--success-status",
                 "3",
                 "--parent-death-signal",
                 "TERM",
                 "-l",
                 "web=127.0.0.1:0",
                 "--listen",
                 "unix:/run/a.sock",
                 "--exit-dir",
                 "/x",
                 "--name",
                 "member",
                 "--pidfile",
                 "/run/p",
                 "--control",
                 "/run/c.sock",
                 "--log-format",
                 "json",
                 "-v",
                 "--no-subreaper",
                 "--",
                 "prog"});
  CHECK(c.stop_timeout == Millis{5000});
  CHECK(c.upgrade_signal == SIGHUP);
  CHECK(c.forward_to_group);
  CHECK_FALSE(c.exit_leader);
  CHECK(c.exit_follower);
  CHECK(c.ready_timeout == Millis{60000});
  CHECK(c.ready_settle == Millis{2000});
  CHECK(c.ready_interval == Millis{1000});
  CHECK(c.health == "true");
  CHECK(c.health_interval == Millis{3000});
  CHECK(c.health_failures == 4);
  CHECK(c.stop_delay == Millis{500});
  CHECK(c.ready_dir == "/run/ready");
  CHECK(c.wait_for == std::vector<std::string>{"db", "cache"});
  CHECK(c.wait_for_timeout == Millis{9000});
  CHECK(c.drain_signal == SIGQUIT);
  CHECK(c.restart == byed::RestartPolicy::kOnFailure);
  CHECK(c.restart_delay == Millis{200});
  CHECK(c.restart_burst == 3);
  CHECK(c.restart_interval == Millis{10000});
  CHECK(c.watchdog == Millis{20000});
  CHECK_FALSE(c.ready.automatic);
  CHECK(c.ready.message);
  CHECK(c.ready.exec == std::vector<std::string>{"test -e /tmp/a,b"});
  CHECK(c.rewrite ==
        std::vector<std::pair<int, int>>{{SIGTERM, SIGQUIT}, {SIGUSR2, 0}});
  CHECK(c.success_status == std::vector<int>{143, 3});
  CHECK(c.parent_death_signal == SIGTERM);
  REQUIRE(c.listen.size() == 2);
  CHECK(c.listen[0].name == "web");
  CHECK(c.listen[1].path == "/run/a.sock");
  CHECK(c.exit_dir == "/x");
  CHECK(c.name == "member");
  CHECK(c.pidfile == "/run/p");
  CHECK(c.control == "/run/c.sock");
  CHECK(c.log_format == byed::LogFormat::kJson);
  CHECK(c.log_level == byed::LogLevel::kDebug);
  CHECK_FALSE(c.subreaper);
  CHECK(c.command == std::vector<std::string>{"prog"});
}

TEST_CASE("cli: upgrade signal none and 0, quiet") {
  CHECK(ok({"--upgrade-signal", "none", "p"}).upgrade_signal == 0);
  CHECK(ok({"--upgrade-signal", "0", "p"}).upgrade_signal == 0);
  CHECK(ok({"-q", "p"}).log_level == byed::LogLevel::kWarn);
  CHECK(ok({"-q", "-v", "p"}).log_level == byed::LogLevel::kDebug);
}

TEST_CASE("cli: variables set options; a flag wins; empty means unset") {
  Env env{{"BYED_FORWARD_TO", "group"},
          {"BYED_LISTEN", "a=127.0.0.1:0,,b=127.0.0.1:0"},
          {"EXIT_DIR", "/shared"},
          {"PIDFILE", "/run/p"},
          {"BYED_NAME", "side"},
          {"BYED_READY", "exec:echo a,b"},
          {"BYED_RESTART", "always"},
          {"BYED_CONTROL", ""}};
  Config c = ok({"p"}, env);
  CHECK(c.forward_to_group);
  REQUIRE(c.listen.size() == 2);
  CHECK(c.listen[1].name == "b");
  CHECK(c.exit_dir == "/shared");
  CHECK(c.pidfile == "/run/p");
  CHECK(c.name == "side");
  CHECK(c.ready.exec == std::vector<std::string>{"echo a,b"});
  CHECK(c.restart == byed::RestartPolicy::kAlways);
  CHECK(c.control.empty());

  Config f = ok({"--forward-to", "child", "--listen", "9000", "--ready", "1s",
                 "--name", "n", "--restart", "no", "p"},
                env);
  CHECK_FALSE(f.forward_to_group);
  REQUIRE(f.listen.size() == 1);
  CHECK(f.listen[0].port == 9000);
  CHECK(f.name == "n");
  CHECK(f.ready.exec.empty());
  CHECK(f.ready.alive == Millis{1000});
  CHECK(f.restart == byed::RestartPolicy::kNo);
}

TEST_CASE("cli: help and version are outcomes, not exits") {
  for (const char* flag : {"--help", "-h"}) {
    Parsed p = parse({flag});
    CHECK(p.ok);
    CHECK(p.outcome == ParseOutcome::kHelp);
  }
  Parsed v = parse({"--version"});
  CHECK(v.ok);
  CHECK(v.outcome == ParseOutcome::kVersion);
  // Not an error although no program is given.
  CHECK(byed::help_text().find("--stop-timeout") != std::string::npos);
}

TEST_CASE("cli: usage errors name the culprit") {
  CHECK(error({}) == "no program given: byed [OPTIONS] -- PROGRAM [ARGS]");
  CHECK(error({"--"}) == "no program given: byed [OPTIONS] -- PROGRAM [ARGS]");
  CHECK(error({"--no-such-flag", "--", "p"}).find("--no-such-flag") !=
        std::string::npos);
  CHECK(error({"-x", "p"}).find("-x") != std::string::npos);
  CHECK(error({"--stop-timeout", "5", "p"}) ==
        "--stop-timeout '5': not a duration (use e.g. 500ms, 30s, 2m, or 0)");
  CHECK(error({"--upgrade-signal", "KILL", "p"}) ==
        "--upgrade-signal 'KILL': not a catchable signal name");
  CHECK(error({"--health-failures", "x", "p"}) ==
        "--health-failures 'x': not a number");
  CHECK(error({"--health-failures", "0", "p"}) ==
        "--health-failures must be at least 1");
  CHECK(error({"--log-format", "xml", "p"}) ==
        "--log-format 'xml': expected text or json");
  CHECK(error({"--stop-timeout", "1s", "--stop-timeout", "2s", "p"})
            .find("--stop-timeout") != std::string::npos);
  CHECK(error({"--wait-for", "db", "p"}) ==
        "--wait-for needs --ready-dir: where the entries appear");
  // A bad value from a variable names the variable.
  CHECK(error({"p"}, {{"BYED_RESTART", "sometimes"}}) ==
        "BYED_RESTART: --restart 'sometimes': expected no, on-failure or "
        "always");
  CHECK(error({"p"}, {{"BYED_LISTEN", "80,nonsense:x"}})
            .rfind("BYED_LISTEN: --listen 'nonsense:x'", 0) == 0);
}

TEST_CASE("cli: make_env splits KEY=VALUE at the first '='") {
  const char* strings[] = {"A=1", "B=x=y", "EMPTY=", "BROKEN", nullptr};
  Env env = byed::make_env(strings);
  CHECK(env.size() == 3);
  CHECK(env["A"] == "1");
  CHECK(env["B"] == "x=y");
  CHECK(env["EMPTY"].empty());
  CHECK(byed::make_env(nullptr).empty());
}

TEST_CASE("cli: every option can be set by its variable") {
  Env env{{"BYED_STOP_TIMEOUT", "5s"},
          {"BYED_UPGRADE_SIGNAL", "none"},
          {"BYED_FORWARD_TO", "group"},
          {"BYED_EXIT_ROLE", "leader"},
          {"BYED_READY_TIMEOUT", "2m"},
          {"BYED_READY_SETTLE", "3s"},
          {"BYED_READY_INTERVAL", "2s"},
          {"BYED_HEALTH", "exec:true"},
          {"BYED_HEALTH_INTERVAL", "4s"},
          {"BYED_HEALTH_FAILURES", "7"},
          {"BYED_STOP_DELAY", "1s"},
          {"BYED_READY_DIR", "/r"},
          {"BYED_WAIT_FOR", "a,b"},
          {"BYED_WAIT_FOR_TIMEOUT", "8s"},
          {"BYED_DRAIN_SIGNAL", "QUIT"},
          {"BYED_RESTART", "always"},
          {"BYED_RESTART_DELAY", "300ms"},
          {"BYED_RESTART_LIMIT", "2/5s"},
          {"BYED_WATCHDOG", "9s"},
          {"BYED_READY", "message"},
          {"BYED_REWRITE", "TERM:QUIT,USR2:none"},
          {"BYED_SUCCESS_STATUS", "143,3"},
          {"BYED_PARENT_DEATH_SIGNAL", "HUP"},
          {"BYED_LISTEN", "8080"},
          {"BYED_EXIT_DIR", "/e"},
          {"BYED_NAME", "n"},
          {"BYED_PIDFILE", "/p"},
          {"BYED_CONTROL", "/c"},
          {"BYED_LOG_FORMAT", "json"},
          {"BYED_QUIET", "1"},
          {"BYED_NO_SUBREAPER", "true"}};
  Config c = ok({"prog"}, env);
  CHECK(c.stop_timeout == Millis{5000});
  CHECK(c.upgrade_signal == 0);
  CHECK(c.forward_to_group);
  CHECK((c.exit_leader && !c.exit_follower));
  CHECK(c.ready_timeout == Millis{120000});
  CHECK(c.ready_settle == Millis{3000});
  CHECK(c.ready_interval == Millis{2000});
  CHECK(c.health == "true");
  CHECK(c.health_interval == Millis{4000});
  CHECK(c.health_failures == 7);
  CHECK(c.stop_delay == Millis{1000});
  CHECK(c.ready_dir == "/r");
  CHECK(c.wait_for == std::vector<std::string>{"a", "b"});
  CHECK(c.wait_for_timeout == Millis{8000});
  CHECK(c.drain_signal == SIGQUIT);
  CHECK(c.restart == byed::RestartPolicy::kAlways);
  CHECK(c.restart_delay == Millis{300});
  CHECK((c.restart_burst == 2 && c.restart_interval == Millis{5000}));
  CHECK(c.watchdog == Millis{9000});
  CHECK(c.ready.message);
  CHECK(c.rewrite ==
        std::vector<std::pair<int, int>>{{SIGTERM, SIGQUIT}, {SIGUSR2, 0}});
  CHECK(c.success_status == std::vector<int>{143, 3});
  CHECK(c.parent_death_signal == SIGHUP);
  REQUIRE(c.listen.size() == 1);
  CHECK(c.listen[0].port == 8080);
  CHECK(c.exit_dir == "/e");
  CHECK(c.name == "n");
  CHECK(c.pidfile == "/p");
  CHECK(c.control == "/c");
  CHECK(c.log_format == byed::LogFormat::kJson);
  CHECK(c.log_level == byed::LogLevel::kWarn);
  CHECK_FALSE(c.subreaper);
}

TEST_CASE("cli: each option's variable is BYED_ and its name, in --help") {
  const std::string help = byed::help_text();
  size_t options = 0;
  for (size_t at = help.find("--"); at != std::string::npos;
       at = help.find("--", at + 2)) {
    if (at > 0 && help[at - 1] != ' ' && help[at - 1] != ',') continue;
    size_t end = help.find_first_not_of("abcdefghijklmnopqrstuvwxyz-", at + 2);
    std::string name = help.substr(at + 2, end - at - 2);
    if (name.empty() || name == "help" || name == "version") continue;
    std::string var = "BYED_";
    for (char ch : name) var += ch == '-' ? '_' : static_cast<char>(ch - 32);
    CAPTURE(name);
    CHECK(help.find(var) != std::string::npos);
    ++options;
  }
  CHECK(options > 30);
}

TEST_CASE("cli: switches by variable; a flag wins; EXIT_DIR and PIDFILE") {
  CHECK(ok({"p"}, {{"BYED_VERBOSE", "yes"}}).log_level ==
        byed::LogLevel::kDebug);
  CHECK(ok({"p"}, {{"BYED_QUIET", "on"}}).log_level == byed::LogLevel::kWarn);
  CHECK(ok({"p"}, {{"BYED_QUIET", "0"}}).log_level == byed::LogLevel::kInfo);
  CHECK(ok({"-q", "p"}, {{"BYED_VERBOSE", "1"}}).log_level ==
        byed::LogLevel::kWarn);
  CHECK(ok({"-v", "p"}, {{"BYED_QUIET", "1"}}).log_level ==
        byed::LogLevel::kDebug);
  CHECK(ok({"p"}, {{"BYED_NO_SUBREAPER", "0"}}).subreaper);
  CHECK(error({"p"}, {{"BYED_QUIET", "maybe"}}) ==
        "BYED_QUIET='maybe': expected 1 or 0 (or true/false, yes/no, on/off)");
  // The protocol's own names are read after BYED_'s.
  CHECK(ok({"p"}, {{"EXIT_DIR", "/a"}, {"BYED_EXIT_DIR", "/b"}}).exit_dir ==
        "/b");
  CHECK(ok({"p"}, {{"PIDFILE", "/a"}}).pidfile == "/a");
  CHECK(ok({"--pidfile", "/f", "p"}, {{"PIDFILE", "/a"}}).pidfile == "/f");
  // BYED_READY holds one rule: a comma is part of it, and the error says so.
  CHECK(error({"p"}, {{"BYED_READY", "message,2s"}}) ==
        "BYED_READY: --ready 'message,2s': expected auto, message, "
        "accepting[:NAME,...], exec:CMD or a duration like 2s (BYED_READY "
        "holds one rule, commas included; give more with --ready)");
}

TEST_CASE("cli: tini's and dumb-init's variables, below byed's own") {
  Config t = ok({"p"}, {{"TINI_KILL_PROCESS_GROUP", ""}});  // set at all
  CHECK(t.forward_to_group);
  CHECK(t.notes == std::vector<std::string>{
                       "TINI_KILL_PROCESS_GROUP=: --forward-to group"});
  CHECK(ok({"p"}, {{"DUMB_INIT_SETSID", "1"}}).forward_to_group);
  Config d = ok({"p"}, {{"DUMB_INIT_SETSID", "0"}});
  CHECK_FALSE(d.forward_to_group);
  CHECK(d.notes ==
        std::vector<std::string>{"DUMB_INIT_SETSID=0: --forward-to child"});
  // A flag or a BYED_ variable wins, and the note says so.
  Config f = ok({"--forward-to", "child", "p"},
                {{"TINI_KILL_PROCESS_GROUP", "1"}, {"DUMB_INIT_SETSID", "1"}});
  CHECK_FALSE(f.forward_to_group);
  CHECK(f.notes == std::vector<std::string>{
                       "TINI_KILL_PROCESS_GROUP=1: ignored, --forward-to is "
                       "given",
                       "DUMB_INIT_SETSID=1: ignored, TINI_KILL_PROCESS_GROUP "
                       "is set"});
  CHECK_FALSE(
      ok({"p"}, {{"BYED_FORWARD_TO", "child"}, {"DUMB_INIT_SETSID", "1"}})
          .forward_to_group);
  CHECK(ok({"--forward-to", "group", "p"}, {{"DUMB_INIT_SETSID", "0"}})
            .forward_to_group);

  Config s = ok({"p"}, {{"TINI_SUBREAPER", "1"}});
  CHECK(s.subreaper);
  CHECK(s.notes == std::vector<std::string>{
                       "TINI_SUBREAPER=1: nothing to do, byed always reaps as "
                       "a subreaper"});
  CHECK_FALSE(ok({"--no-subreaper", "p"}, {{"TINI_SUBREAPER", "1"}}).subreaper);

  using byed::LogLevel;
  for (auto [value, level] :
       std::vector<std::pair<const char*, LogLevel>>{{"0", LogLevel::kWarn},
                                                     {"1", LogLevel::kWarn},
                                                     {"2", LogLevel::kInfo},
                                                     {"3", LogLevel::kDebug},
                                                     {"9", LogLevel::kDebug},
                                                     {"x", LogLevel::kInfo}}) {
    CAPTURE(value);
    Config v = ok({"p"}, {{"TINI_VERBOSITY", value}});
    CHECK(v.log_level == level);
    REQUIRE(v.notes.size() == 1);
    CHECK(v.notes[0].rfind(std::string("TINI_VERBOSITY=") + value, 0) == 0);
  }
  CHECK(ok({"-v", "p"}, {{"TINI_VERBOSITY", "1"}}).log_level ==
        LogLevel::kDebug);
  CHECK(ok({"p"}, {{"BYED_QUIET", "0"}, {"TINI_VERBOSITY", "3"}}).log_level ==
        LogLevel::kInfo);
  CHECK(ok({"p"}, {{"TINI_VERBOSITY", "x"}}).notes[0] ==
        "TINI_VERBOSITY=x: ignored, not a number");
  CHECK(ok({"p"}).notes.empty());
}

namespace {

// Every setting an option with a shown default can change.
std::string fingerprint(const Config& c) {
  std::string out;
  for (Millis d : {c.stop_timeout, c.stop_delay, c.ready_timeout,
                   c.ready_interval, c.restart_delay, c.restart_interval,
                   c.watchdog, c.health_interval, c.wait_for_timeout}) {
    out += byed::format_duration(d) + " ";
  }
  for (int n :
       {c.upgrade_signal, c.drain_signal, c.restart_burst, c.health_failures,
        static_cast<int>(c.restart), static_cast<int>(c.forward_to_group),
        static_cast<int>(c.exit_leader), static_cast<int>(c.exit_follower),
        static_cast<int>(c.ready.automatic), static_cast<int>(c.log_format),
        static_cast<int>(c.log_child), c.workers, c.upgrade_batch}) {
    out += std::to_string(n) + " ";
  }
  return out;
}

}  // namespace

TEST_CASE("cli: the defaults --help shows are the defaults") {
  // Each option entry of --help, its continuation lines joined.
  std::vector<std::string> entries;
  const std::string help = byed::help_text();
  for (std::string_view line : byed::split(help, '\n')) {
    if (line.substr(0, 3) == "  -") {
      entries.emplace_back(line.substr(2));
    } else if (!entries.empty() && line.substr(0, 4) == "    ") {
      entries.back() += " ";
      entries.back() += line.substr(line.find_first_not_of(' '));
    } else if (!entries.empty() && entries.back() != "") {
      entries.emplace_back();  // the end of an entry
    }
  }
  const std::string plain = fingerprint(ok({"p"}));
  size_t shown = 0;
  for (const std::string& e : entries) {
    size_t at = e.rfind("; default ");
    if (at == std::string::npos) continue;
    std::string flag = e.substr(0, e.find(' '));
    std::string def = e.substr(at + 10);
    CAPTURE(flag);
    CAPTURE(def);
    CHECK(fingerprint(ok({flag, def, "p"})) == plain);
    ++shown;
  }
  CHECK(shown == 19);  // every option with a default
  // And the fingerprint sees a change.
  CHECK(fingerprint(ok({"--stop-timeout", "31s", "p"})) != plain);
}

TEST_CASE("cli: --help at 79 columns, descriptions at column 30, greedy") {
  const std::string help = byed::help_text();
  // Laid out by byed: all but the examples, which are written as shown.
  const std::string laid_out = help.substr(0, help.find("\nExamples:\n"));
  std::vector<std::string_view> lines = byed::split(laid_out, '\n');
  auto first_word = [](std::string_view l) {
    l.remove_prefix(l.find_first_not_of(' '));
    return l.substr(0, l.find(' '));
  };
  size_t entries = 0, continued = 0;
  for (size_t k = 0; k < lines.size(); ++k) {
    std::string_view l = lines[k];
    CAPTURE(l);
    CHECK(l.size() <= 79);
    // An entry: "  HEAD", at least two spaces, its text from column 30.
    bool entry = l.size() > 30 && l.substr(0, 3) != "   " &&
                 l.substr(0, 2) == "  " && l.substr(28, 2) == "  " &&
                 l[30] != ' ';
    if (l.substr(0, 3) == "  -") {
      CHECK(entry);
      entries += entry;
    }
    // A continued entry or paragraph: the line before had no room for the
    // first word of this one.
    bool continuation = l.size() > 30 &&
                        l.substr(0, 30) == std::string(30, ' ') && l[30] != ' ';
    bool paragraph = k > 0 && l.substr(0, 2) == "  " && l[2] != ' ' && !entry &&
                     lines[k - 1].substr(0, 2) == "  " &&
                     lines[k - 1][2] != ' ' && lines[k - 1].size() > 60 &&
                     l.find("  ", 2) == std::string_view::npos;
    if (continuation || paragraph) {
      CAPTURE(lines[k - 1]);
      CHECK(lines[k - 1].size() + 1 + first_word(l).size() > 79);
      ++continued;
    }
  }
  CHECK(entries == 37);
  CHECK(continued > 70);
  // The groups under "Options:", a blank line between two; help and
  // version once, at the end of the last.
  CHECK(help.find("\nOptions:\nSignals and stopping:\n") != std::string::npos);
  CHECK(help.find("\n\nUpgrades and readiness:\n") != std::string::npos);
  CHECK(help.find("\n\nFiles, control and logs:\n") != std::string::npos);
  size_t h = help.find("\n  -h, --help   ");
  REQUIRE(h != std::string::npos);
  CHECK(help.find("\n  -h, --help", h + 1) == std::string::npos);
  CHECK(help.find("\n  --version   ") > help.find("\n  -v, --verbose   "));
  CHECK(help.find("\n\nValues:\n") > h);
  // Variables: lists take ",...", switches "1 or 0", EXIT_DIR its own line.
  CHECK(help.find(
            "\n  BYED_LISTEN                 -l, --listen [NAME=]ADDR,...\n") !=
        std::string::npos);
  CHECK(help.find("\n  BYED_QUIET                  -q, --quiet (1 or 0)\n") !=
        std::string::npos);
  CHECK(help.find("\n  BYED_STOP_TIMEOUT           --stop-timeout DUR\n") !=
        std::string::npos);
  CHECK(help.find(
            "\n  EXIT_DIR                    --exit-dir, when BYED_EXIT_DIR "
            "is unset (the\n") != std::string::npos);
  CHECK(help.find("\n  PIDFILE ") != std::string::npos);
  CHECK(help.find("\n  BYED_PIDFILE ") != std::string::npos);
  CHECK(help.find("\n  LISTEN_FDS ") == std::string::npos);
}

TEST_CASE("cli: more usage errors") {
  CHECK(error({"--name", "", "p"}) ==
        "--name '': empty (it names the EXIT_DIR marker and tags the log; "
        "leave it out for the program's basename)");
  // Only BYED_READY holds one rule that may contain commas.
  CHECK(error({"p"}, {{"BYED_STOP_TIMEOUT", "1s,2s"}}) ==
        "BYED_STOP_TIMEOUT: --stop-timeout '1s,2s': not a duration (use e.g. "
        "500ms, 30s, 2m, or 0)");
  CHECK(error({"p"}, {{"BYED_READY", "bogus"}}) ==
        "BYED_READY: --ready 'bogus': expected auto, message, "
        "accepting[:NAME,...], exec:CMD or a duration like 2s");
  CHECK(error({"--ready-settle", "5", "p"}) ==
        "--ready-settle '5': not a duration (use e.g. 500ms, 30s, 2m, or 0)");
  CHECK(error({"--listen", "x", "p"}).rfind("--listen 'x': ", 0) == 0);
  CHECK(error({"p"}, {{"BYED_NO_SUBREAPER", "2"}}) ==
        "BYED_NO_SUBREAPER='2': expected 1 or 0 (or true/false, yes/no, "
        "on/off)");
  // A lone '-' is a program name, not an option.
  CHECK(ok({"-"}).command == std::vector<std::string>{"-"});
  CHECK(ok({"--ready-settle", "0", "p"}).ready_settle == Millis{0});
}

TEST_CASE("cli: TINI_SUBREAPER's note says whether --no-subreaper won") {
  const std::string ignored =
      "TINI_SUBREAPER=1: ignored, --no-subreaper is given";
  const std::string nothing =
      "TINI_SUBREAPER=1: nothing to do, byed always reaps as a subreaper";
  CHECK(ok({"--no-subreaper", "p"}, {{"TINI_SUBREAPER", "1"}}).notes ==
        std::vector<std::string>{ignored});
  CHECK(
      ok({"p"}, {{"BYED_NO_SUBREAPER", "1"}, {"TINI_SUBREAPER", "1"}}).notes ==
      std::vector<std::string>{ignored});
  CHECK(
      ok({"p"}, {{"BYED_NO_SUBREAPER", "0"}, {"TINI_SUBREAPER", "1"}}).notes ==
      std::vector<std::string>{nothing});
  CHECK(ok({"p"}, {{"TINI_SUBREAPER", "1"}}).notes ==
        std::vector<std::string>{nothing});
}

namespace {

// Every field of a Config (config.h), one per line: a field added there
// belongs here, or the fast path below is not compared on it.
std::string describe(const Config& c) {
  std::string out;
  auto line = [&out](const char* name, const std::string& value) {
    out += std::string(name) + "=" + value + "\n";
  };
  auto ms = [](Millis m) { return std::to_string(m.count()); };
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (const std::string& e : v) s += "[" + e + "]";
    return s;
  };
  auto num = [](auto n) { return std::to_string(static_cast<long long>(n)); };
  line("command", list(c.command));
  line("stop_timeout", ms(c.stop_timeout));
  line("upgrade_signal", num(c.upgrade_signal));
  line("drain_signal", num(c.drain_signal));
  line("ready.automatic", num(c.ready.automatic));
  line("ready.message", num(c.ready.message));
  line("ready.accepting", num(c.ready.accepting));
  line("ready.accepting_names", list(c.ready.accepting_names));
  line("ready.alive", ms(c.ready.alive));
  line("ready.exec", list(c.ready.exec));
  line("ready_timeout", ms(c.ready_timeout));
  line("ready_settle", c.ready_settle ? ms(*c.ready_settle) : "unset");
  line("ready_interval", ms(c.ready_interval));
  line("health", c.health);
  line("health_interval", ms(c.health_interval));
  line("health_failures", num(c.health_failures));
  line("stop_delay", ms(c.stop_delay));
  line("ready_dir", c.ready_dir);
  line("wait_for", list(c.wait_for));
  line("wait_for_timeout", ms(c.wait_for_timeout));
  line("held_sockets", list(c.held_sockets));
  std::string rewrite;
  for (const auto& [from, to] : c.rewrite) {
    rewrite += num(from) + ":" + num(to) + ",";
  }
  line("rewrite", rewrite);
  line("forward_to_group", num(c.forward_to_group));
  std::string success;
  for (int s : c.success_status) success += num(s) + ",";
  line("success_status", success);
  line("parent_death_signal", num(c.parent_death_signal));
  line("pidfile", c.pidfile);
  line("control", c.control);
  line("subreaper", num(c.subreaper));
  line("log_format", num(c.log_format));
  line("log_child", num(c.log_child));
  line("log_level", num(c.log_level));
  line("name", c.name);
  for (const byed::ListenAddress& a : c.listen) {
    line("listen", num(a.kind) + "|" + a.name + "|" + a.host + "|" +
                       num(a.port) + "|" + a.path + "|" + a.text);
  }
  line("workers", num(c.workers));
  line("upgrade_batch", num(c.upgrade_batch));
  line("restart", num(c.restart));
  line("restart_delay", ms(c.restart_delay));
  line("restart_delay_max", ms(c.restart_delay_max));
  line("restart_stable", ms(c.restart_stable));
  line("restart_burst", num(c.restart_burst));
  line("restart_interval", ms(c.restart_interval));
  line("watchdog", ms(c.watchdog));
  line("systemd_watchdog_usec", num(c.systemd_watchdog_usec));
  line("exit_dir", c.exit_dir);
  line("exit_leader", num(c.exit_leader));
  line("exit_follower", num(c.exit_follower));
  line("notes", list(c.notes));
  return out;
}

Parsed parse_with(byed::ArgvSplit split, const std::vector<std::string>& args,
                  const Env& env) {
  std::vector<const char*> argv{"byed"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  Parsed p;
  p.ok = byed::parse_args(static_cast<int>(argv.size() - 1), argv.data(), env,
                          &p.config, &p.err, &p.outcome, split);
  return p;
}

// parse_args as byed runs it and with CLI11's parser of every option: the
// same answer, the same Config.
void same_both_ways(const std::vector<std::string>& args, const Env& env) {
  Parsed fast = parse_with(byed::ArgvSplit::kAuto, args, env);
  Parsed full = parse_with(byed::ArgvSplit::kParser, args, env);
  std::string what = "argv:";
  for (const std::string& a : args) what += " '" + a + "'";
  CAPTURE(what);
  CAPTURE(env.size());
  CHECK(fast.ok == full.ok);
  CHECK(fast.err == full.err);
  CHECK(fast.outcome == full.outcome);
  CHECK(describe(fast.config) == describe(full.config));
}

bool has_options(std::vector<std::string> args) {
  std::vector<const char*> argv{"byed"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  return byed::argv_has_options(static_cast<int>(argv.size() - 1), argv.data());
}

}  // namespace

TEST_CASE("cli: argv without options skips CLI11 and gives what it gives") {
  const std::vector<std::vector<std::string>> argvs{
      {"--", "/usr/bin/server", "-x"},
      {"prog"},
      {"./prog", "--help"},
      {"prog", "-v", "--", "--version"},
      {"--", "--", "prog"},
      {"--", "-v", "prog"},
      {"--", "--help"},
      {"--"},
      {},
      {""},
      {"", "x"},
      {"/bin/sh", "-c", "exec true"},
  };
  const std::vector<Env> envs{
      {},
      {{"BYED_STOP_TIMEOUT", "5s"},
       {"BYED_UPGRADE_SIGNAL", "none"},
       {"BYED_FORWARD_TO", "group"},
       {"BYED_EXIT_ROLE", "leader"},
       {"BYED_READY_TIMEOUT", "2m"},
       {"BYED_READY_SETTLE", "3s"},
       {"BYED_READY_INTERVAL", "2s"},
       {"BYED_HEALTH", "exec:true"},
       {"BYED_HEALTH_INTERVAL", "4s"},
       {"BYED_HEALTH_FAILURES", "7"},
       {"BYED_STOP_DELAY", "1s"},
       {"BYED_READY_DIR", "/r"},
       {"BYED_WAIT_FOR", "a,b"},
       {"BYED_WAIT_FOR_TIMEOUT", "8s"},
       {"BYED_DRAIN_SIGNAL", "QUIT"},
       {"BYED_RESTART", "always"},
       {"BYED_RESTART_DELAY", "300ms"},
       {"BYED_RESTART_LIMIT", "2/5s"},
       {"BYED_WATCHDOG", "9s"},
       {"BYED_READY", "exec:a,b"},
       {"BYED_REWRITE", "TERM:QUIT,USR2:none"},
       {"BYED_SUCCESS_STATUS", "143,3"},
       {"BYED_PARENT_DEATH_SIGNAL", "HUP"},
       {"BYED_LISTEN", "a=8080,unix:/tmp/s"},
       {"BYED_EXIT_DIR", "/e"},
       {"BYED_NAME", "n"},
       {"BYED_PIDFILE", "/p"},
       {"BYED_CONTROL", "/c"},
       {"BYED_LOG_CHILD", "json"},
       {"BYED_VERBOSE", "1"},
       {"BYED_WORKERS", "3"},
       {"BYED_UPGRADE_BATCH", "1"},
       {"BYED_NO_SUBREAPER", "1"}},
      {{"EXIT_DIR", "/x"},
       {"PIDFILE", "/pid"},
       {"TINI_KILL_PROCESS_GROUP", "1"},
       {"DUMB_INIT_SETSID", "0"},
       {"TINI_SUBREAPER", ""},
       {"TINI_VERBOSITY", "3"},
       {"BYED_QUIET", ""}},
      {{"BYED_WORKER", "0"}, {"BYED_WORKERS", "2"}, {"BYED_LOG_CHILD", "tag"}},
      {{"BYED_STOP_TIMEOUT", "5"}},
      {{"BYED_READY", "message"}, {"BYED_QUIET", "maybe"}},
  };
  for (const auto& args : argvs) {
    CHECK_FALSE(has_options(args));
    for (const Env& env : envs) same_both_ways(args, env);
  }
  // The cases above include both outcomes.
  CHECK(parse_with(byed::ArgvSplit::kAuto, {"prog"}, {}).ok);
  CHECK_FALSE(parse_with(byed::ArgvSplit::kAuto, {}, {}).ok);
}

TEST_CASE("cli: any option, --help and --version go through CLI11") {
  CHECK(has_options({"--help"}));
  CHECK(has_options({"-h"}));
  CHECK(has_options({"--version", "prog"}));
  CHECK(has_options({"-", "prog"}));
  CHECK(has_options({"-x", "prog"}));
  CHECK(has_options({"--stop-timeout=5s", "--", "prog"}));
  // Every flag --help lists (a line "  -l, --listen ..." or "  --name ...").
  const std::string help = byed::help_text();
  size_t flags = 0;
  for (size_t at = help.find("\n  -"); at != std::string::npos;
       at = help.find("\n  -", at + 1)) {
    const size_t start = at + 3;
    const std::string flag =
        help.substr(start, help.find_first_of(", \n", start) - start);
    CAPTURE(flag);
    CHECK(has_options({flag, "prog"}));
    ++flags;
  }
  CHECK(flags > 30);
  // What CLI11 makes of them is not the fast path's: --help is an outcome,
  // a flag a setting, an unknown option an error.
  CHECK(parse({"--help"}).outcome == ParseOutcome::kHelp);
  CHECK(parse({"--version"}).outcome == ParseOutcome::kVersion);
  CHECK(ok({"-q", "prog"}).log_level == byed::LogLevel::kWarn);
  CHECK(error({"-x", "prog"}).find("-x") != std::string::npos);
}

TEST_CASE("cli: a parser of the options argv names splits it as all of them") {
  const std::vector<std::vector<std::string>> argvs{
      {"-q", "--", "prog"},
      {"-qv", "prog"},
      {"-vq", "--", "-x"},
      {"-l8080", "prog"},
      {"-l", "80", "--listen=81", "--listen", "a=82", "prog"},
      {"--name", "-q", "prog"},
      {"--name=", "prog"},
      {"--name=-v", "prog"},
      {"--stop-timeout", "--quiet", "prog"},
      {"--stop-timeout"},
      {"--stop-timeout", "5s", "--stop-timeout", "6s", "prog"},
      {"--bogus", "prog"},
      {"-x"},
      {"-", "prog"},
      {"--=x", "prog"},
      {"---q", "prog"},
      {"--quiet=1", "prog"},
      {"--no-subreaper", "prog"},
      {"--ready", "exec:a,b", "--ready", "message", "prog"},
      {"--rewrite", "TERM:QUIT", "--rewrite=HUP:none", "--", "prog"},
      {"--forward-to", "group", "--", "prog", "--stop-timeout", "5s"},
      {"--workers", "auto", "--upgrade-batch", "1", "prog"},
      {"--exit-dir", "/e", "--exit-role", "follower", "prog"},
      {"--log-child", "json", "-v", "prog", "-q"},
      {"-q", "--help"},
      {"-h", "prog"},
      {"--version"},
      {"--stop-timeout", "8s", "--", "/bin/true"},
      {"-1", "prog"},
      {"--health-failures", "-1", "prog"},
      {"-q1", "prog"},
  };
  const std::vector<Env> envs{
      {},
      {{"BYED_QUIET", "1"}, {"BYED_LISTEN", "90"}, {"BYED_NAME", "n"}},
      {{"TINI_VERBOSITY", "3"}, {"BYED_FORWARD_TO", "group"}},
  };
  for (const auto& args : argvs) {
    CHECK(has_options(args));
    for (const Env& env : envs) same_both_ways(args, env);
  }
}
