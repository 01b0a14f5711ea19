// main.cc — byed's own command line (-> Config, then run); `byed ctl ...`
// is handed to ctl.cc. Nothing else lives here.
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>

#include "config.h"
#include "ctl.h"
#include "loop.h"
#include "signals.h"
#include "text.h"
#include "version.h"

namespace {

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "byed: %s (see 'byed --help')\n", message.c_str());
  std::exit(2);
}

// Parses each value of a repeatable option with `parse`.
bool parse_each(const std::vector<std::string>& values,
                bool (*parse)(std::string_view, byed::Config*, std::string*),
                byed::Config* cfg, std::string* err) {
  for (const auto& v : values) {
    if (!parse(v, cfg, err)) return false;
  }
  return true;
}

byed::Millis duration_arg(const std::string& flag, const std::string& value) {
  auto d = byed::parse_duration(value);
  if (!d) {
    usage_error(flag + " '" + value +
                "': not a duration (use e.g. 500ms, 30s, 2m, or 0)");
  }
  return *d;
}

int signal_arg(const std::string& flag, const std::string& value) {
  auto s = byed::parse_signal(value);
  if (!s) usage_error(flag + " '" + value + "': not a catchable signal name");
  return *s;
}

// fds 0, 1 and 2 closed by whoever started byed (`<&-`, a cron job, a
// daemon's leftovers) would be taken by the first fd byed opens — libuv's
// epoll fd, a socket — and the child would read or write it as its stdio.
// They are opened on /dev/null before anything else, as dumb-init does.
void reopen_closed_stdio() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    int null = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (null >= 0 && null != fd) {
      dup2(null, fd);
      close(null);
    }
  }
}

// byed's own command line into *cfg. Returns -1 to go on, else the exit
// code (--help, --version); a usage error exits 2 from here. The parser and
// everything it allocated are gone once this returns.
int parse_command_line(int argc, char** argv, byed::Config* cfg) {
  CLI::App app{
      "byed: a supervisor that starts PROGRAM as its child and stays in front "
      "of it: forwards signals, reaps zombies, returns the child's status, "
      "holds its sockets and upgrades it without downtime. 'byed ctl --help' "
      "for the control client.",
      "byed"};
  app.footer("Run: byed [OPTIONS] -- PROGRAM [ARGS...]");
  app.set_version_flag("--version", std::string("byed ") + BYED_VERSION + " (" +
                                        BYED_GIT_REVISION + ")");

  std::string stop_timeout = "30s", upgrade_signal = "USR1";
  std::string log_format = "text";
  bool quiet = false, verbose = false, no_subreaper = false;
  std::vector<std::string> listen;
  std::string exit_role = "leader,follower";
  std::string ready_timeout = "60s", drain_signal = "TERM";
  std::vector<std::string> ready;
  std::string ready_settle, ready_interval = "250ms", health;
  std::string health_interval = "10s", health_failures = "3", stop_delay = "0";
  std::string wait_for, wait_for_timeout = "0";
  std::string restart = "no", restart_delay = "100ms", restart_limit = "5/60s";
  std::string watchdog = "0", forward_to = "child", parent_death;
  std::vector<std::string> rewrites, success;

  // The valued options, their defaults shown in --help, and the
  // environment variable that sets each, if any (a flag wins over it).
  struct Valued {
    const char* flags;
    std::string* value;
    const char* type;
    const char* env;
    const char* help;
  };
  for (
      const Valued& v : std::initializer_list<Valued>{
          {"--stop-timeout", &stop_timeout, "DUR", nullptr,
           "after a stop signal, SIGKILL what is still running when this "
           "passes; 0 = never"},
          {"--upgrade-signal", &upgrade_signal, "SIG", nullptr,
           "signal that starts an upgrade; never forwarded; none: every signal "
           "is forwarded and upgrades come from 'byed ctl upgrade'"},
          {"--forward-to", &forward_to, "WHO", "BYED_FORWARD_TO",
           "child: forwarded and stop signals go to the program; group: to its "
           "whole process group"},
          {"--exit-role", &exit_role, "ROLES", "BYED_EXIT_ROLE",
           "leader: leave NAME.exit when the child ends; follower: stop the "
           "child when an entry appears"},
          {"--ready-timeout", &ready_timeout, "DUR", nullptr,
           "a generation not ready by then has failed"},
          {"--ready-settle", &ready_settle, "DUR", "BYED_READY_SETTLE",
           "an upgrade's new generation stays ready this long beside the old "
           "one before the old is drained; dying meanwhile fails the upgrade "
           "(default 1s with --ready auto, else 0)"},
          {"--ready-interval", &ready_interval, "DUR", "BYED_READY_INTERVAL",
           "time between two runs of a --ready exec: probe"},
          {"--health", &health, "exec:CMD", "BYED_HEALTH",
           "liveness: sh -c CMD runs every --health-interval against the "
           "serving generation; --health-failures failures in a row make it "
           "hung (ABRT, KILL after --stop-timeout, then --restart)"},
          {"--health-interval", &health_interval, "DUR", "BYED_HEALTH_INTERVAL",
           "time between two --health probes"},
          {"--health-failures", &health_failures, "N", "BYED_HEALTH_FAILURES",
           "failed --health probes in a row that mean hung"},
          {"--stop-delay", &stop_delay, "DUR", "BYED_STOP_DELAY",
           "on a stop signal, say STOPPING=1 and keep serving this long "
           "before forwarding it (load balancers deregister); a second stop "
           "signal ends the delay"},
          {"--ready-dir", &cfg->ready_dir, "DIR", "BYED_READY_DIR",
           "leave NAME.ready here once the first generation is ready "
           "(removed on exit); created if missing; never EXIT_DIR"},
          {"--wait-for", &wait_for, "NAME,...", "BYED_WAIT_FOR",
           "start the child only once NAME.ready exists in --ready-dir for "
           "each NAME"},
          {"--wait-for-timeout", &wait_for_timeout, "DUR",
           "BYED_WAIT_FOR_TIMEOUT",
           "give up waiting for --wait-for after this long (exit 1); 0 = "
           "wait as long as it takes"},
          {"--drain-signal", &drain_signal, "SIG", nullptr,
           "sent to the old generation once the new one is ready"},
          {"--restart", &restart, "WHEN", "BYED_RESTART",
           "when the serving generation ends unasked: no, on-failure (exit "
           "code not 0, or a signal) or always; a new one starts on the held "
           "sockets"},
          {"--restart-delay", &restart_delay, "DUR", nullptr,
           "first back-off before a restart; doubles up to 10s, back to this "
           "once a generation stayed ready 1s"},
          {"--restart-limit", &restart_limit, "N/DUR", nullptr,
           "at most N restarts within DUR; past it byed exits with the last "
           "status"},
          {"--watchdog", &watchdog, "DUR", nullptr,
           "a serving generation that sent WATCHDOG=1 and then is silent for "
           "this long is hung: ABRT, KILL after --stop-timeout, then "
           "--restart; 0 = off"},
      }) {
    CLI::Option* o = app.add_option(v.flags, *v.value, v.help)
                         ->type_name(v.type)
                         ->capture_default_str();
    if (v.env != nullptr) o->envname(v.env);
  }
  // Repeatable options: one value per flag.
  auto repeated = [&app](const char* flags, std::vector<std::string>& values,
                         const char* type, const char* help) {
    return app.add_option(flags, values, help)
        ->type_name(type)
        ->allow_extra_args(false);
  };
  repeated("--ready", ready, "RULE",
           "when a new generation is ready (repeatable: all must hold): auto "
           "(default), message (a byte on UPGRADE_FD or READY=1 on "
           "NOTIFY_SOCKET), accepting[:NAME,...] (its processes wait on the "
           "held sockets), exec:CMD (sh -c CMD exits 0), or a duration alive")
      ->envname("BYED_READY");
  repeated("--rewrite", rewrites, "SIG:SIG",
           "FROM:TO: forward signal FROM as TO (repeatable; TO none drops "
           "it); a rewritten stop signal still stops byed");
  repeated("--success-status", success, "CODE",
           "exit 0 when the program's status is CODE (repeatable), e.g. 143 "
           "for a JVM stopped by TERM");
  app.add_option("--parent-death-signal", parent_death,
                 "byed receives SIG when the process that started it dies")
      ->type_name("SIG");
  repeated("-l,--listen", listen, "[NAME=]ADDR",
           "socket to hold and pass to every generation: [NAME=]PORT, "
           "HOST:PORT, [V6]:PORT or unix:/path (repeatable; env BYED_LISTEN, "
           "comma-separated)");
  app.add_option("--exit-dir", cfg->exit_dir,
                 "coordinated-exit directory shared by a group (must exist)")
      ->type_name("DIR")
      ->envname("EXIT_DIR");
  app.add_option("--name", cfg->name,
                 "this member's name: marker file NAME.exit and log tag "
                 "(default: program basename)")
      ->envname("BYED_NAME");
  app.add_option("--pidfile", cfg->pidfile,
                 "write byed's own pid here once the first generation is "
                 "ready (the pid to send the upgrade signal to)")
      ->type_name("PATH")
      ->envname("PIDFILE");
  app.add_option("--control", cfg->control,
                 "unix control socket for 'byed ctl' (mode 0600)")
      ->type_name("PATH")
      ->envname("BYED_CONTROL");
  app.add_option("--log-format", log_format, "byed's own messages on stderr")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_flag("-q,--quiet", quiet, "log errors and warnings only");
  app.add_flag("-v,--verbose", verbose, "also log debug messages");
  app.add_flag("--no-subreaper", no_subreaper,
               "do not adopt orphaned grandchildren (when not PID 1)");
  // Everything from the first non-option (or after "--") is the command,
  // passed through untouched: `byed -- prog -x` and `byed prog -x` alike.
  app.prefix_command();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    usage_error(e.what());
  }
  cfg->command = app.remaining();
  if (!cfg->command.empty() && cfg->command.front() == "--") {
    cfg->command.erase(cfg->command.begin());
  } else if (!cfg->command.empty() && cfg->command.front().size() > 1 &&
             cfg->command.front()[0] == '-') {
    usage_error("unknown option '" + cfg->command.front() + "'");
  }

  cfg->stop_timeout = duration_arg("--stop-timeout", stop_timeout);
  cfg->upgrade_signal = upgrade_signal == "none" || upgrade_signal == "0"
                            ? 0
                            : signal_arg("--upgrade-signal", upgrade_signal);
  if (!parent_death.empty()) {
    cfg->parent_death_signal =
        signal_arg("--parent-death-signal", parent_death);
  }
  cfg->drain_signal = signal_arg("--drain-signal", drain_signal);
  cfg->ready_timeout = duration_arg("--ready-timeout", ready_timeout);
  if (!ready_settle.empty()) {
    cfg->ready_settle = duration_arg("--ready-settle", ready_settle);
  }
  cfg->ready_interval = duration_arg("--ready-interval", ready_interval);
  cfg->health_interval = duration_arg("--health-interval", health_interval);
  cfg->stop_delay = duration_arg("--stop-delay", stop_delay);
  cfg->wait_for_timeout = duration_arg("--wait-for-timeout", wait_for_timeout);
  {
    int n = 0;
    auto [p, ec] =
        std::from_chars(health_failures.data(),
                        health_failures.data() + health_failures.size(), n);
    if (ec != std::errc() ||
        p != health_failures.data() + health_failures.size()) {
      usage_error("--health-failures '" + health_failures + "': not a number");
    }
    cfg->health_failures = n;
  }
  for (auto part : byed::split(wait_for, ',')) {
    if (!part.empty()) cfg->wait_for.emplace_back(part);
  }
  cfg->restart_delay = duration_arg("--restart-delay", restart_delay);
  cfg->watchdog = duration_arg("--watchdog", watchdog);
  cfg->log_format =
      log_format == "json" ? byed::LogFormat::kJson : byed::LogFormat::kText;
  if (quiet) cfg->log_level = byed::LogLevel::kWarn;
  if (verbose) cfg->log_level = byed::LogLevel::kDebug;
  cfg->subreaper = !no_subreaper;
  if (cfg->name.empty()) cfg->name = byed::default_name(cfg->command);
  if (listen.empty()) {
    if (const char* env = std::getenv("BYED_LISTEN")) {
      for (auto part : byed::split(env, ',')) {
        if (!part.empty()) listen.emplace_back(part);
      }
    }
  }
  std::string err;
  if (!byed::parse_exit_role(exit_role, cfg, &err) ||
      !parse_each(ready, byed::parse_ready, cfg, &err) ||
      (!health.empty() && !byed::parse_health(health, cfg, &err)) ||
      !byed::parse_restart(restart, cfg, &err) ||
      !byed::parse_forward_to(forward_to, cfg, &err) ||
      !byed::parse_restart_limit(restart_limit, cfg, &err) ||
      !byed::parse_watchdog_env(std::getenv("WATCHDOG_USEC"),
                                std::getenv("WATCHDOG_PID"), getpid(),
                                &cfg->systemd_watchdog_usec, &err) ||
      !byed::validate(*cfg, &err)) {
    usage_error(err);
  }
  for (const auto& r : rewrites) {
    if (!byed::parse_rewrite(r, cfg, &err)) usage_error(err);
  }
  for (const auto& s : success) {
    if (!byed::parse_success_status(s, cfg, &err)) usage_error(err);
  }
  if (!byed::validate(*cfg, &err)) usage_error(err);
  if (!cfg->exit_dir.empty()) {
    struct stat st {};
    if (stat(cfg->exit_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      usage_error("--exit-dir '" + cfg->exit_dir +
                  "': no such directory (it is not created for you)");
    }
  }
  for (const auto& l : listen) {
    byed::ListenAddress a;
    if (!byed::parse_listen(l, &a, &err)) usage_error(err);
    cfg->listen.push_back(std::move(a));
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  reopen_closed_stdio();
  if (argc > 1 && std::string(argv[1]) == "ctl") {
    return byed::ctl_main(argc - 1, argv + 1);
  }
  byed::Config cfg;
  if (int rc = parse_command_line(argc, argv, &cfg); rc >= 0) return rc;
  // The parser's garbage (help texts, option objects) freed above would
  // stay as dirty heap pages for as long as byed runs: give them back.
  malloc_trim(0);
  std::string err;
  // Sockets are bound before the first generation starts, and a bad
  // LISTEN_FDS is an error before anything runs.
  byed::ListenEnv listen_env;
  std::vector<byed::HeldSocket> sockets;
  if (!byed::parse_listen_env(
          std::getenv("LISTEN_FDS"), std::getenv("LISTEN_PID"),
          std::getenv("LISTEN_FDNAMES"), getpid(), &listen_env, &err) ||
      !byed::adopt_systemd_sockets(listen_env, &sockets, &err)) {
    usage_error(err);
  }
  if (!byed::bind_listen_sockets(cfg.listen, &sockets, &err)) {
    std::fprintf(stderr, "byed: %s\n", err.c_str());
    return 1;
  }
  for (const byed::HeldSocket& s : sockets) cfg.held_sockets.push_back(s.name);
  if (!byed::validate_held_sockets(cfg, &err)) usage_error(err);

  byed::Logger logger(cfg.log_format, cfg.log_level, getpid(), cfg.name);
  byed::Runtime runtime(std::move(cfg), std::move(sockets), logger);
  return runtime.run();
}
