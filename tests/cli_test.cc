// byed's command line and environment: argv and variables in, a Config or
// a one-line error out.
#include "cli.h"

#include <doctest/doctest.h>
#include <signal.h>

#include <string>
#include <vector>

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
