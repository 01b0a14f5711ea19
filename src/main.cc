// main.cc — command lines: byed's own (cli.cc parses it into a Config; here
// only the exit codes, the checks that touch the OS, then run) and `byed
// ctl`'s (-> one control request). Nothing else lives here.
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cli.h"
#include "config.h"
#include "control.h"
#include "loop.h"
#include "version.h"

namespace {

// A usage error: one line, a hint, exit 2.
int usage_error(const std::string& message) {
  std::fprintf(stderr, "byed: %s (see 'byed --help')\n", message.c_str());
  return 2;
}

// byed ctl [--control PATH] [--json] [--timeout DUR] status|upgrade|stop
int ctl_main(int argc, char** argv) {
  CLI::App app{"byed ctl: talk to a running byed over its control socket",
               "byed ctl"};
  std::string control, command, timeout_text = "2m";
  bool json = false;
  app.add_option("--control", control,
                 "control socket (default: $BYED_CONTROL, else "
                 "$RUNTIME_DIRECTORY/byed.sock)")
      ->type_name("PATH");
  app.add_flag("--json", json, "print the raw JSON reply");
  app.add_option("--timeout", timeout_text,
                 "how long to wait for the answer (upgrade, stop)")
      ->type_name("DUR")
      ->capture_default_str();
  app.add_option("command", command, "status, upgrade or stop")
      ->required()
      ->check(CLI::IsMember({"status", "upgrade", "stop"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "byed ctl: %s (see 'byed ctl --help')\n", e.what());
    return 2;
  }
  auto timeout = byed::parse_duration(timeout_text);
  if (!timeout || timeout->count() == 0) {
    std::fprintf(stderr, "byed ctl: --timeout '%s': not a duration\n",
                 timeout_text.c_str());
    return 2;
  }
  std::string path = byed::find_control_path(control);
  if (path.empty()) {
    std::fprintf(
        stderr,
        "byed ctl: no control socket: use --control PATH or "
        "BYED_CONTROL, or run byed under systemd with "
        "RuntimeDirectory= and --control $RUNTIME_DIRECTORY/byed.sock\n");
    return 2;
  }
  byed::UniqueFd conn;
  nlohmann::json reply;
  std::string err;
  if (!byed::control_call(path, command, *timeout, &reply, &err,
                          command == "stop" ? &conn : nullptr)) {
    std::fprintf(stderr, "byed ctl: %s\n", err.c_str());
    return 1;
  }
  {
    bool ok = reply.value("ok", false);
    if (json) std::printf("%s\n", reply.dump().c_str());
    if (!ok && reply.contains("error")) {
      std::fprintf(stderr, "byed ctl: %s\n",
                   reply["error"].get<std::string>().c_str());
      return 1;
    }
    if (command == "status") {
      if (!json) std::printf("%s", byed::format_status(reply).c_str());
      return 0;
    }
    if (command == "upgrade") {
      if (ok) {
        if (!json) {
          std::printf("upgraded: gen %d, pid %d\n", reply.value("gen", 0),
                      reply.value("pid", 0));
        }
        return 0;
      }
      std::fprintf(stderr, "upgrade failed: %s\n",
                   reply.value("reason", std::string("unknown")).c_str());
      return 1;
    }
    // stop: byed closes the connection when it exits.
    if (!byed::wait_closed(conn.get(), *timeout)) {
      std::fprintf(stderr, "byed ctl: byed still running after %s\n",
                   timeout_text.c_str());
      return 1;
    }
    if (!json) std::printf("stopped\n");
    return 0;
  }
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

// EXIT_DIR is not created for byed: a typo in a shared volume's path must
// not leave a member watching a directory of its own.
bool check_exit_dir(const byed::Config& cfg, std::string* err) {
  if (cfg.exit_dir.empty()) return true;
  struct stat st {};
  if (stat(cfg.exit_dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return true;
  *err = "--exit-dir '" + cfg.exit_dir +
         "': no such directory (it is not created for you)";
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  reopen_closed_stdio();
  if (argc > 1 && std::string(argv[1]) == "ctl") {
    return ctl_main(argc - 1, argv + 1);
  }
  byed::Config cfg;
  std::string err;
  {
    byed::ParseOutcome outcome;
    if (!byed::parse_args(argc, argv, byed::make_env(environ), &cfg, &err,
                          &outcome)) {
      return usage_error(err);
    }
    if (outcome == byed::ParseOutcome::kHelp) {
      std::fputs(byed::help_text().c_str(), stdout);
      return 0;
    }
    if (outcome == byed::ParseOutcome::kVersion) {
      std::printf("byed %s (%s)\n", BYED_VERSION, BYED_GIT_REVISION);
      return 0;
    }
    if (!check_exit_dir(cfg, &err) ||
        !byed::parse_watchdog_env(std::getenv("WATCHDOG_USEC"),
                                  std::getenv("WATCHDOG_PID"), getpid(),
                                  &cfg.systemd_watchdog_usec, &err)) {
      return usage_error(err);
    }
  }
  // The parser's garbage (help texts, option objects) freed above would
  // stay as dirty heap pages for as long as byed runs: give them back.
  malloc_trim(0);
  // Sockets are bound before the first generation starts, and a bad
  // LISTEN_FDS is an error before anything runs.
  byed::ListenEnv listen_env;
  std::vector<byed::HeldSocket> sockets;
  if (!byed::parse_listen_env(
          std::getenv("LISTEN_FDS"), std::getenv("LISTEN_PID"),
          std::getenv("LISTEN_FDNAMES"), getpid(), &listen_env, &err) ||
      !byed::adopt_systemd_sockets(listen_env, &sockets, &err)) {
    return usage_error(err);
  }
  if (!byed::bind_listen_sockets(cfg.listen, &sockets, &err)) {
    std::fprintf(stderr, "byed: %s\n", err.c_str());
    return 1;
  }
  for (const byed::HeldSocket& s : sockets) cfg.held_sockets.push_back(s.name);
  if (!byed::validate_held_sockets(cfg, &err)) return usage_error(err);

  byed::Logger logger(cfg.log_format, cfg.log_level, getpid(), cfg.name);
  for (const std::string& note : cfg.notes) {
    logger.write(byed::LogRecord{byed::LogLevel::kDebug, 0, note, {}});
  }
  byed::Runtime runtime(std::move(cfg), std::move(sockets), logger);
  return runtime.run();
}
