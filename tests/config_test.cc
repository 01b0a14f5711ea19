#include "config.h"

#include <doctest/doctest.h>
#include <signal.h>

#include "signals.h"
#include "test_util.h"

using byed::Config;
using byed::ListenAddress;
using byed::ListenEnv;
using byed::Millis;
using byed::parse_duration;
using byed::parse_listen;
using byed::test::parse;

namespace {

ListenEnv env(const char* fds, const char* pid, const char* names, int self) {
  ListenEnv e;
  std::string err;
  REQUIRE_MESSAGE(byed::parse_listen_env(fds, pid, names, self, &e, &err), err);
  return e;
}

// True when the value is accepted (it should not be); the error names it.
bool env_fails(const char* fds) {
  ListenEnv e;
  std::string err;
  if (byed::parse_listen_env(fds, "42", nullptr, 42, &e, &err)) return true;
  CHECK(err.find("LISTEN_FDS") != std::string::npos);
  return false;
}

bool valid(const Config& c, std::string* err) { return byed::validate(c, err); }

}  // namespace

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
  Config c;
  std::string err;
  c.upgrade_signal = SIGUSR1;
  CHECK_FALSE(valid(c, &err));
  CHECK(err.find("no program") != std::string::npos);
  c.command = {"/bin/true"};
  CHECK(valid(c, &err));
  for (int sig : {SIGTERM, SIGINT, SIGQUIT, SIGCHLD}) {
    c.upgrade_signal = sig;
    CHECK_FALSE(valid(c, &err));
  }
  c.upgrade_signal = SIGHUP;
  CHECK(valid(c, &err));
  c.control = "/" + std::string(200, 'x');
  CHECK_FALSE(valid(c, &err));
  CHECK(err.find("--control") != std::string::npos);
}

TEST_CASE("--ready and --exit-role") {
  Config c;
  std::string err;
  CHECK(c.ready.automatic);
  CHECK(byed::ready_settle(c) == Millis{1000});  // auto: 1 s
  REQUIRE(byed::parse_ready("auto", &c, &err));
  CHECK(c.ready.automatic);
  REQUIRE(byed::parse_ready("2s", &c, &err));
  CHECK_FALSE(c.ready.automatic);
  CHECK(c.ready.alive == Millis{2000});
  CHECK(byed::ready_settle(c) == Millis{0});  // explicit rules: none
  REQUIRE(byed::parse_ready("message", &c, &err));
  CHECK(c.ready.message);
  CHECK(c.ready.alive == Millis{2000});              // rules add up
  CHECK_FALSE(byed::parse_ready("auto", &c, &err));  // auto only alone
  CHECK(err.find("cannot be combined") != std::string::npos);
  CHECK_FALSE(byed::parse_ready("0", &c, &err));
  CHECK(err.find("--ready '0'") != std::string::npos);
  REQUIRE(byed::parse_ready("accepting:web,admin", &c, &err));
  CHECK(c.ready.accepting);
  CHECK(c.ready.accepting_names == std::vector<std::string>{"web", "admin"});
  CHECK_FALSE(byed::parse_ready("accepting:web,", &c, &err));
  CHECK(err.find("'' is not a socket name") != std::string::npos);
  REQUIRE(byed::parse_ready("exec:curl -fs http://$BYED_ADDRESS/", &c, &err));
  CHECK(c.ready.exec ==
        std::vector<std::string>{"curl -fs http://$BYED_ADDRESS/"});
  CHECK_FALSE(byed::parse_ready("exec:", &c, &err));
  CHECK(err == "--ready 'exec:': no command after 'exec:'");
  // accepting needs held sockets, and the names given must be held.
  c.command = {"./srv"};
  CHECK_FALSE(byed::validate_held_sockets(c, &err));
  CHECK(err.find("holds no socket") != std::string::npos);
  c.held_sockets = {"web"};
  CHECK_FALSE(byed::validate_held_sockets(c, &err));
  CHECK(err == "--ready accepting:admin: byed holds no socket of that name");
  c.held_sockets = {"web", "admin"};
  CHECK(byed::validate_held_sockets(c, &err));
  Config h;
  CHECK(byed::parse_health("exec:true", &h, &err));
  CHECK(h.health == "true");
  CHECK_FALSE(byed::parse_health("true", &h, &err));
  CHECK(err == "--health 'true': expected exec:CMD");
  REQUIRE(byed::parse_exit_role("follower,leader", &c, &err));
  CHECK((c.exit_leader && c.exit_follower));
  REQUIRE(byed::parse_exit_role("follower", &c, &err));
  CHECK((!c.exit_leader && c.exit_follower));
  CHECK_FALSE(byed::parse_exit_role("leader,", &c, &err));
  CHECK_FALSE(c.leader());  // no EXIT_DIR: no role at all
  c.exit_dir = "/x";
  CHECK(c.follower());
}

TEST_CASE("the variables byed consumes, and only those") {
  for (const char* k :
       {"EXIT_DIR", "PIDFILE", "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID",
        "LISTEN_FDNAMES", "WATCHDOG_USEC", "WATCHDOG_PID", "UPGRADE_FD",
        "BYED_LISTEN", "BYED_X"}) {
    CAPTURE(k);
    CHECK(byed::consumed_env_var(k));
  }
  for (const char* k :
       {"PATH", "HOME", "EXIT", "PIDFILE2", "BYED", "LISTEN_PORT",
        "LISTEN_ADDR", "WATCHDOG_URL", "LISTEN_FDS2",
        // Passed on: the program may be a nested tini or dumb-init.
        "TINI_KILL_PROCESS_GROUP", "TINI_SUBREAPER", "TINI_VERBOSITY",
        "DUMB_INIT_SETSID"}) {
    CAPTURE(k);
    CHECK_FALSE(byed::consumed_env_var(k));
  }
}
TEST_CASE("listen addresses: every documented form") {
  auto a = parse("8080");
  CHECK(a.kind == ListenAddress::Kind::kTcp);
  CHECK(a.host.empty());
  CHECK(a.port == 8080);
  CHECK(a.name.empty());

  a = parse("web=127.0.0.1:80");
  CHECK(a.name == "web");
  CHECK(a.host == "127.0.0.1");
  CHECK(a.port == 80);

  a = parse("[::1]:443");
  CHECK(a.host == "::1");
  CHECK(a.port == 443);

  a = parse("admin=unix:/run/x.sock");
  CHECK(a.kind == ListenAddress::Kind::kUnix);
  CHECK(a.path == "/run/x.sock");
  CHECK(a.name == "admin");

  a = parse("localhost:0");
  CHECK(a.host == "localhost");
  CHECK(a.port == 0);
}

TEST_CASE("listen addresses: the message names what is wrong") {
  auto error = [](const char* text) {
    ListenAddress a;
    std::string err;
    CHECK_FALSE(parse_listen(text, &a, &err));
    return err;
  };
  CHECK(error("nonsense") ==
        "--listen 'nonsense': neither a port (0..65535) nor an address "
        "(HOST:PORT, [V6]:PORT, unix:/PATH)");
  CHECK(error("web=http") ==
        "--listen 'web=http': neither a port (0..65535) nor an address "
        "(HOST:PORT, [V6]:PORT, unix:/PATH)");
  CHECK(error("65536") ==
        "--listen '65536': port 65536 is out of range (0..65535)");
  CHECK(error("127.0.0.1:http") ==
        "--listen '127.0.0.1:http': 'http' is not a port (0..65535)");
  CHECK(error("[::1]:") == "--listen '[::1]:': '' is not a port (0..65535)");
}

TEST_CASE("listen addresses: bad ones say why") {
  for (const char* bad :
       {"", "x=", "=80", "65536", "-1", "80x", "a.b.c:80", "1.2.3:80", ":80",
        "[::1]", "[::1]80", "[zz]:80", "::1:80", "unix:", "unix:rel",
        "bad:name=1", "n a=80", "127.0.0.1:", "127.0.0.1:99999"}) {
    CAPTURE(bad);
    ListenAddress a;
    std::string err;
    CHECK_FALSE(parse_listen(bad, &a, &err));
    CHECK(err.find("--listen") != std::string::npos);
  }
}

TEST_CASE("LISTEN_* parsing follows sd_listen_fds") {
  auto e = env("2", "42", "web:admin", 42);
  CHECK(e.count == 2);
  CHECK(e.names == std::vector<std::string>{"web", "admin"});

  // Not ours, or absent: nothing adopted.
  CHECK(env("2", "41", nullptr, 42).count == 0);
  CHECK(env("2", nullptr, nullptr, 42).count == 0);
  CHECK(env(nullptr, "42", nullptr, 42).count == 0);
  CHECK(env("1", "x", nullptr, 42).count == 0);

  // Missing or short names: "unknown", as systemd.
  e = env("3", "42", "a", 42);
  CHECK(e.names == std::vector<std::string>{"a", "unknown", "unknown"});
  e = env("2", "42", nullptr, 42);
  CHECK(e.names == std::vector<std::string>{"unknown", "unknown"});
  e = env("2", "42", "::", 42);
  CHECK(e.names == std::vector<std::string>{"unknown", "unknown"});

  CHECK_FALSE(env_fails("x"));
  CHECK_FALSE(env_fails("-1"));
  CHECK_FALSE(env_fails("100000"));
}

TEST_CASE("fd names") {
  CHECK(byed::valid_fd_name("web"));
  CHECK(byed::valid_fd_name("a.b-c_d"));
  CHECK_FALSE(byed::valid_fd_name(""));
  CHECK_FALSE(byed::valid_fd_name("a:b"));
  CHECK_FALSE(byed::valid_fd_name("a b"));
  CHECK_FALSE(byed::valid_fd_name(std::string(256, 'a')));
}

TEST_CASE("default name is the program's basename") {
  CHECK(byed::default_name({"/usr/bin/python3", "-m"}) == "python3");
  CHECK(byed::default_name({"server"}) == "server");
  CHECK(byed::default_name({"dir/"}) == "byed");
}

TEST_CASE("--restart, --restart-limit and systemd's WATCHDOG_*") {
  Config c;
  std::string err;
  REQUIRE(byed::parse_restart("on-failure", &c, &err));
  CHECK(c.restart == byed::RestartPolicy::kOnFailure);
  REQUIRE(byed::parse_restart("always", &c, &err));
  CHECK(c.restart == byed::RestartPolicy::kAlways);
  CHECK_FALSE(byed::parse_restart("yes", &c, &err));
  CHECK(err.find("--restart 'yes'") != std::string::npos);

  REQUIRE(byed::parse_restart_limit("10/30s", &c, &err));
  CHECK(c.restart_burst == 10);
  CHECK(c.restart_interval == Millis{30000});
  for (const char* bad :
       {"", "5", "5/", "/60s", "0/60s", "5/60", "x/1s", "5/0", "-1/1s"}) {
    CAPTURE(bad);
    CHECK_FALSE(byed::parse_restart_limit(bad, &c, &err));
  }

  uint64_t usec = 7;
  REQUIRE(byed::parse_watchdog_env("3000000", nullptr, 42, &usec, &err));
  CHECK(usec == 3000000);
  REQUIRE(byed::parse_watchdog_env("3000000", "42", 42, &usec, &err));
  CHECK(usec == 3000000);
  REQUIRE(byed::parse_watchdog_env("3000000", "41", 42, &usec, &err));
  CHECK(usec == 0);  // another process's
  REQUIRE(byed::parse_watchdog_env(nullptr, nullptr, 42, &usec, &err));
  CHECK(usec == 0);
  CHECK_FALSE(byed::parse_watchdog_env("soon", nullptr, 42, &usec, &err));
  CHECK(err.find("WATCHDOG_USEC") != std::string::npos);
}

TEST_CASE("--rewrite, --forward-to, --success-status, --upgrade-signal none") {
  Config c;
  c.command = {"x"};
  std::string err;
  REQUIRE(byed::parse_rewrite("TERM:QUIT", &c, &err));
  REQUIRE(byed::parse_rewrite("12:none", &c, &err));
  REQUIRE(byed::parse_rewrite("sighup:0", &c, &err));
  CHECK(c.rewrite == std::vector<std::pair<int, int>>{
                         {SIGTERM, SIGQUIT}, {SIGUSR2, 0}, {SIGHUP, 0}});
  for (const char* bad : {"TERM", "TERM:", ":QUIT", "TERM:KILLME", "x:y"}) {
    CAPTURE(bad);
    CHECK_FALSE(byed::parse_rewrite(bad, &c, &err));
    CHECK(err.find("--rewrite") != std::string::npos);
  }
  CHECK(valid(c, &err));
  // dumb-init's -r takes any target: KILL and STOP too.
  Config k;
  REQUIRE(byed::parse_rewrite("TSTP:STOP", &k, &err));
  REQUIRE(byed::parse_rewrite("15:9", &k, &err));
  REQUIRE(byed::parse_rewrite("hup:sigkill", &k, &err));
  CHECK(k.rewrite == std::vector<std::pair<int, int>>{{SIGTSTP, SIGSTOP},
                                                      {SIGTERM, SIGKILL},
                                                      {SIGHUP, SIGKILL}});
  // The message names the culprit.
  CHECK_FALSE(byed::parse_rewrite("FOO:TERM", &k, &err));
  CHECK(err == "--rewrite 'FOO:TERM': 'FOO' is not a signal");
  CHECK_FALSE(byed::parse_rewrite("TERM:BAR", &k, &err));
  CHECK(err ==
        "--rewrite 'TERM:BAR': 'BAR' is not a signal (TO may also be "
        "none)");
  CHECK_FALSE(byed::parse_rewrite("TERM", &k, &err));
  CHECK(err ==
        "--rewrite 'TERM': expected FROM:TO, two signals (TO may be none)");
  // A FROM byed never catches could never apply: refused, named.
  for (const char* never :
       {"SYS:TERM", "SEGV:TERM", "PIPE:TERM", "BUS:HUP", "FPE:HUP", "ILL:HUP",
        "TRAP:HUP", "ABRT:HUP", "KILL:TERM", "STOP:TERM", "9:15"}) {
    CAPTURE(never);
    CHECK_FALSE(byed::parse_rewrite(never, &k, &err));
    CHECK(err.find("byed never catches") != std::string::npos);
  }
  CHECK_FALSE(byed::parse_rewrite("SYS:TERM", &k, &err));
  CHECK(err ==
        "--rewrite 'SYS:TERM': byed never catches SYS (KILL, STOP, the "
        "faults and PIPE are not caught), so it could never be rewritten");
  Config u = c;
  u.rewrite = {{SIGUSR1, SIGUSR2}};  // the upgrade signal: never forwarded
  CHECK_FALSE(valid(u, &err));
  u.upgrade_signal = 0;  // freed
  CHECK(valid(u, &err));
  u.rewrite = {{SIGCHLD, SIGUSR2}};
  CHECK_FALSE(valid(u, &err));

  REQUIRE(byed::parse_forward_to("group", &c, &err));
  CHECK(c.forward_to_group);
  CHECK_FALSE(byed::parse_forward_to("pgrp", &c, &err));
  REQUIRE(byed::parse_success_status("143", &c, &err));
  CHECK(c.success_status == std::vector<int>{143});
  CHECK_FALSE(byed::parse_success_status("256", &c, &err));
  CHECK_FALSE(byed::parse_success_status("x", &c, &err));
}

TEST_CASE("durations: at most 2^40 ms, a sum included") {
  CHECK(parse_duration("1099511627776ms") == Millis{int64_t{1} << 40});
  CHECK_FALSE(parse_duration("1099511627777ms").has_value());
  CHECK(parse_duration("305419h") == Millis{305419LL * 3600000});
  CHECK_FALSE(parse_duration("305420h").has_value());
  CHECK_FALSE(parse_duration("305419h3600s").has_value());  // the sum is over
}

TEST_CASE("durations render as minutes, then whole seconds or milliseconds") {
  using byed::format_duration;
  CHECK(format_duration(Millis{1}) == "1ms");
  CHECK(format_duration(Millis{999}) == "999ms");
  CHECK(format_duration(Millis{1000}) == "1s");
  CHECK(format_duration(Millis{59000}) == "59s");
  CHECK(format_duration(Millis{60000}) == "1m");
  CHECK(format_duration(Millis{60001}) == "1m1ms");
  CHECK(format_duration(Millis{61000}) == "1m1s");
  CHECK(format_duration(Millis{120000}) == "2m");
  CHECK(format_duration(Millis{3600000}) == "60m");
}

TEST_CASE("ports: 0..65535, no sign") {
  CHECK(parse("65535").port == 65535);
  CHECK(parse("127.0.0.1:65535").port == 65535);
  CHECK(parse("[::1]:0").port == 0);
  ListenAddress a;
  std::string err;
  CHECK_FALSE(parse_listen("127.0.0.1:-1", &a, &err));
  CHECK(err == "--listen '127.0.0.1:-1': '-1' is not a port (0..65535)");
  CHECK_FALSE(parse_listen("[::1]:65536", &a, &err));
  CHECK(err == "--listen '[::1]:65536': port 65536 is out of range (0..65535)");
}

TEST_CASE("counts: 0..1000000") {
  int n = -1;
  std::string err;
  REQUIRE(byed::parse_count_option("--health-failures", "0", &n, &err));
  CHECK(n == 0);
  REQUIRE(byed::parse_count_option("--health-failures", "1000000", &n, &err));
  CHECK(n == 1000000);
  for (const char* bad : {"1000001", "-1", "", "1x", "x"}) {
    CAPTURE(bad);
    CHECK_FALSE(byed::parse_count_option("--health-failures", bad, &n, &err));
    CHECK(err == "--health-failures '" + std::string(bad) + "': not a number");
  }
}

TEST_CASE("switches: every spelling of on and off") {
  std::string err;
  for (const char* on : {"1", "true", "yes", "on"}) {
    CAPTURE(on);
    bool v = false;
    REQUIRE(byed::parse_switch("BYED_QUIET", on, &v, &err));
    CHECK(v);
  }
  for (const char* off : {"0", "false", "no", "off"}) {
    CAPTURE(off);
    bool v = true;
    REQUIRE(byed::parse_switch("BYED_QUIET", off, &v, &err));
    CHECK_FALSE(v);
  }
}

TEST_CASE("validate: job control is not an upgrade signal") {
  Config c;
  c.command = {"p"};
  std::string err;
  for (int sig : {SIGTSTP, SIGTTIN, SIGTTOU, SIGCONT, SIGTERM, SIGCHLD}) {
    CAPTURE(sig);
    c.upgrade_signal = sig;
    CHECK_FALSE(valid(c, &err));
    CHECK(err.rfind("--upgrade-signal " + byed::signal_name(sig) +
                        ": byed does not catch it for that",
                    0) == 0);
  }
  for (int sig : {SIGHUP, SIGUSR2, SIGWINCH, SIGRTMIN, SIGRTMAX}) {
    CAPTURE(sig);
    c.upgrade_signal = sig;
    CHECK(valid(c, &err));
  }
}

TEST_CASE("validate: each limit at its edge") {
  Config base;
  base.command = {"p"};
  std::string err;
  REQUIRE(valid(base, &err));
  auto refused = [&](const Config& c) {
    std::string e;
    CHECK_FALSE(valid(c, &e));
    return e;
  };
  auto accepted = [&](const Config& c) {
    std::string e;
    CHECK_MESSAGE(valid(c, &e), e);
  };
  Config c = base;
  c.ready_timeout = Millis{0};
  CHECK(refused(c) == "--ready-timeout must be longer than 0");
  c.ready_timeout = Millis{1};
  accepted(c);

  c = base;
  c.restart_delay = Millis{0};
  CHECK(refused(c) == "--restart-delay must be longer than 0");
  c.restart_delay = Millis{1};
  accepted(c);

  c = base;
  c.ready_interval = Millis{0};
  CHECK(refused(c) == "--ready-interval must be longer than 0");
  c.ready_interval = Millis{1};
  accepted(c);

  c = base;
  c.health_interval = Millis{0};
  CHECK(refused(c) == "--health-interval must be longer than 0");
  c.health_interval = Millis{1};
  accepted(c);

  c = base;
  c.health_failures = 0;
  CHECK(refused(c) == "--health-failures must be at least 1");
  c.health_failures = 1;
  accepted(c);

  // --ready DUR must be shorter than --ready-timeout: equal is too long.
  c = base;
  c.ready.alive = Millis{60000};
  CHECK(refused(c) ==
        "--ready 1m is not shorter than --ready-timeout 1m: no generation "
        "could ever be ready");
  c.ready.alive = Millis{59999};
  accepted(c);

  // A unix socket path fits sun_path with its NUL: 107 bytes at most.
  c = base;
  c.control = "/" + std::string(106, 'c');
  accepted(c);
  c.control += "c";
  CHECK(refused(c) == "--control '" + c.control + "': path too long");

  c = base;
  c.drain_signal = SIGHUP;
  accepted(c);
}

TEST_CASE("validate: --wait-for names and --name are plain file names") {
  Config c;
  c.command = {"p"};
  c.ready_dir = "/r";
  c.name = "p";
  std::string err;
  for (const char* bad : {".hidden", "a/b", "/abs"}) {
    CAPTURE(bad);
    c.wait_for = {"db", bad};
    CHECK_FALSE(valid(c, &err));
    CHECK(err.rfind(std::string("--wait-for '") + bad + "'", 0) == 0);
  }
  c.wait_for = {"db", "cache.v2"};
  CHECK(valid(c, &err));
  c.wait_for.clear();
  CHECK(valid(c, &err));

  // The name matters where it names a file: with --ready-dir or EXIT_DIR.
  for (const char* bad : {".x", "a/b", ""}) {
    CAPTURE(bad);
    Config r = c;
    r.name = bad;
    CHECK_FALSE(valid(r, &err));
    CHECK(err.rfind(std::string("--name '") + bad + "'", 0) == 0);
    r.ready_dir.clear();
    r.exit_dir = "/e";
    CHECK_FALSE(valid(r, &err));
    r.exit_dir.clear();
    CHECK(valid(r, &err));
  }
}

TEST_CASE("every keyword reaches its field") {
  Config c;
  std::string err;
  REQUIRE(byed::parse_log_child("auto", &c, &err));
  CHECK(c.log_child == byed::ChildLogMode::kAuto);
  REQUIRE(byed::parse_log_child("raw", &c, &err));
  CHECK(c.log_child == byed::ChildLogMode::kRaw);
  REQUIRE(byed::parse_log_format("json", &c, &err));
  CHECK(c.log_format == byed::LogFormat::kJson);
  REQUIRE(byed::parse_log_format("text", &c, &err));
  CHECK(c.log_format == byed::LogFormat::kText);
  REQUIRE(byed::parse_forward_to("group", &c, &err));
  REQUIRE(byed::parse_forward_to("child", &c, &err));
  CHECK_FALSE(c.forward_to_group);
  REQUIRE(byed::parse_restart("always", &c, &err));
  REQUIRE(byed::parse_restart("no", &c, &err));
  CHECK(c.restart == byed::RestartPolicy::kNo);
  CHECK_FALSE(byed::parse_log_child("xml", &c, &err));
  CHECK(err == "--log-child 'xml': expected raw, tag, json, journal or auto");
}

TEST_CASE("--ready: plain accepting, and the shortest duration") {
  Config c;
  std::string err;
  REQUIRE(byed::parse_ready("accepting", &c, &err));
  CHECK(c.ready.accepting);
  CHECK(c.ready.accepting_names.empty());  // every held socket
  REQUIRE(byed::parse_ready("1ms", &c, &err));
  CHECK(c.ready.alive == Millis{1});
  Config h;
  CHECK_FALSE(byed::parse_health("exec:", &h, &err));
  CHECK(err == "--health 'exec:': expected exec:CMD");
  REQUIRE(byed::parse_health("exec:x", &h, &err));
  CHECK(h.health == "x");
}

TEST_CASE("numbers at the edges of their ranges") {
  Config c;
  std::string err;
  for (const char* code : {"0", "255"}) {
    CAPTURE(code);
    CHECK(byed::parse_success_status(code, &c, &err));
  }
  CHECK(c.success_status == std::vector<int>{0, 255});
  for (const char* bad : {"-1", "256", "x", "", "1 "}) {
    CAPTURE(bad);
    CHECK_FALSE(byed::parse_success_status(bad, &c, &err));
    CHECK(err == "--success-status '" + std::string(bad) +
                     "': expected an exit code 0..255");
  }

  REQUIRE(byed::parse_restart_limit("1/1ms", &c, &err));
  CHECK((c.restart_burst == 1 && c.restart_interval == Millis{1}));
  REQUIRE(byed::parse_restart_limit("1000000/1h", &c, &err));
  CHECK(c.restart_burst == 1000000);
  CHECK_FALSE(byed::parse_restart_limit("1000001/1h", &c, &err));
  CHECK(err ==
        "--restart-limit '1000001/1h': expected N/INTERVAL, e.g. 5/60s (N >= "
        "1)");

  uint64_t usec = 7;
  REQUIRE(byed::parse_watchdog_env("1", nullptr, 42, &usec, &err));
  CHECK(usec == 1);
  for (const char* bad : {"0", "-5", "", "5x"}) {
    CAPTURE(bad);
    CHECK_FALSE(byed::parse_watchdog_env(bad, nullptr, 42, &usec, &err));
    CHECK(err == "WATCHDOG_USEC='" + std::string(bad) +
                     "': not a number of microseconds");
  }

  // LISTEN_FDS: 0 to 4096 fds.
  CHECK(env("0", "42", nullptr, 42).count == 0);
  CHECK(env("4096", "42", nullptr, 42).count == 4096);
  CHECK_FALSE(env_fails("4097"));
  CHECK_FALSE(env_fails("1x"));
}

TEST_CASE("fd names: 1-255 printable characters, '!' to '~', no ':'") {
  CHECK(byed::valid_fd_name(std::string(255, 'a')));
  CHECK(byed::valid_fd_name("!~"));
  CHECK_FALSE(byed::valid_fd_name("a\x7f"));
  CHECK_FALSE(byed::valid_fd_name("a\x01"));
}

TEST_CASE("listen addresses: edges") {
  ListenAddress a;
  std::string err;
  // An address before '=' is not a name: '/' ':' '[' anywhere in it.
  CHECK_FALSE(parse_listen("/a=80", &a, &err));
  CHECK(err ==
        "--listen '/a=80': neither a port (0..65535) nor an address "
        "(HOST:PORT, [V6]:PORT, unix:/PATH)");
  // A number with junk after it is not a port.
  CHECK_FALSE(parse_listen("127.0.0.1:80x", &a, &err));
  CHECK(err == "--listen '127.0.0.1:80x': '80x' is not a port (0..65535)");
  CHECK_FALSE(parse_listen("::1:80", &a, &err));
  CHECK(err ==
        "--listen '::1:80': expected HOST:PORT (write IPv6 as [ADDR]:PORT)");
  for (const char* bad : {"[::1]", "[::1]x80", "[::1"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_listen(bad, &a, &err));
    CHECK(err == "--listen '" + std::string(bad) + "': expected [V6ADDR]:PORT");
  }
  // A unix socket path fits sun_path with its NUL: 107 bytes at most.
  std::string path = "/" + std::string(106, 'p');
  CHECK(byed::test::parse("unix:" + path).path == path);
  CHECK_FALSE(parse_listen("unix:" + path + "p", &a, &err));
  CHECK(err == "--listen 'unix:" + path + "p': unix socket path too long");
}
