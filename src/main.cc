// main.cc — byed's own command line (cli.cc parses it into a Config; here
// only the exit codes, the checks that touch the OS, then run); `byed ctl
// ...` is handed to ctl.cc. Nothing else lives here.
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cli.h"
#include "config.h"
#include "ctl.h"
#include "loop.h"
#include "version.h"

namespace {

// A usage error: one line, a hint, exit 2.
int usage_error(const std::string& message) {
  std::fprintf(stderr, "byed: %s (see 'byed --help')\n", message.c_str());
  return 2;
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
      if (dup2(null, fd) < 0) {
        std::fprintf(stderr, "byed: cannot open fd %d on /dev/null: %s\n", fd,
                     std::strerror(errno));
      }
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
    return byed::ctl_main(argc - 1, argv + 1);
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
  // --workers auto: one per CPU byed may run on (its affinity mask, as
  // taskset or a container's cpuset leave it).
  {
    cpu_set_t set;
    CPU_ZERO(&set);
    const int cpus = sched_getaffinity(0, sizeof set, &set) == 0
                         ? CPU_COUNT(&set)
                         : static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
    cfg.workers = byed::resolve_workers(cfg.workers, cpus);
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
