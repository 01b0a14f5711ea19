// bench_core — byed side by side with tini and dumb-init, in one run.
//
//   bench_core BYED [RUNS] [NAME=PROGRAM ...]
//
// NAME=PROGRAM adds a wrapper run as `PROGRAM --` (a probe built to isolate
// one cost, e.g. a bare epoll+signalfd loop against a bare sigwaitinfo one).
//
// For each wrapper found (byed, tini -s, dumb-init) it measures:
//   * signal-forward latency: kill(wrapper, HUP) -> the child's handler runs
//     (the handler writes one byte to a pipe we read), p50/p99 over RUNS;
//   * start-to-exit time of `WRAPPER -- /bin/true`, p50/p99 over RUNS;
//   * idle RSS of the wrapper with one sleeping child (VmRSS).
// Prints a table and byed's ratios to each other wrapper. Not a pass/fail
// test: the figures go in the README.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

extern char** environ;

#include "bench_util.h"

namespace {

using bench::now_us;
using bench::pct;

struct Wrapper {
  std::string name;
  std::vector<std::string> prefix;  // argv before the program
};

pid_t spawn(const std::vector<std::string>& argv, int out_fd, bool quiet) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (out_fd >= 0) posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  if (quiet) {
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  }
  std::vector<char*> a;
  for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawnp(&pid, a[0], &fa, nullptr, a.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

// Child mode: report readiness, then one byte per SIGHUP, until TERM.
int g_out = 1;
void on_hup(int) { (void)!write(g_out, "h", 1); }
int child_main() {
  signal(SIGHUP, on_hup);
  (void)!write(1, "R", 1);
  for (;;) pause();
}

long rss_kb(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

struct Result {
  double sig_p50 = 0, sig_p99 = 0, start_p50 = 0, start_p99 = 0;
  long rss = 0;
};

struct Running {
  pid_t pid = -1;
  int out = -1;  // the child's byte-per-HUP pipe
};

// Every wrapper runs at once and the measurements interleave (one of each
// per round), so drift in machine load hits all of them alike.
std::vector<Result> measure(const std::vector<Wrapper>& ws,
                            const std::string& self, int runs) {
  std::vector<Result> res(ws.size());
  std::vector<Running> run(ws.size());
  std::vector<std::vector<double>> lat(ws.size()), st(ws.size());
  for (size_t w = 0; w < ws.size(); ++w) {
    int p[2];
    if (pipe(p) != 0) return res;
    std::vector<std::string> argv = ws[w].prefix;
    argv.push_back(self);
    argv.push_back("--child");
    run[w].pid = spawn(argv, p[1], true);
    close(p[1]);
    run[w].out = p[0];
    char c;
    if (run[w].pid < 0 || read(p[0], &c, 1) != 1) {
      fprintf(stderr, "%s: child did not start\n", ws[w].name.c_str());
      run[w].pid = -1;
    }
  }
  for (size_t w = 0; w < ws.size(); ++w) {
    if (run[w].pid > 0) res[w].rss = rss_kb(run[w].pid);
  }
  for (int i = 0; i < runs; ++i) {
    for (size_t w = 0; w < ws.size(); ++w) {
      if (run[w].pid > 0) {
        char c;
        double t0 = now_us();
        kill(run[w].pid, SIGHUP);
        if (read(run[w].out, &c, 1) == 1) lat[w].push_back(now_us() - t0);
      }
      std::vector<std::string> argv = ws[w].prefix;
      argv.push_back("/bin/true");
      double t0 = now_us();
      pid_t q = spawn(argv, -1, true);
      if (q > 0) {
        waitpid(q, nullptr, 0);
        st[w].push_back(now_us() - t0);
      }
    }
  }
  for (size_t w = 0; w < ws.size(); ++w) {
    if (run[w].pid > 0) {
      kill(run[w].pid, SIGTERM);
      waitpid(run[w].pid, nullptr, 0);
      close(run[w].out);
    }
    if (!lat[w].empty()) {
      res[w].sig_p50 = pct(lat[w], 0.5);
      res[w].sig_p99 = pct(lat[w], 0.99);
    }
    if (!st[w].empty()) {
      res[w].start_p50 = pct(st[w], 0.5);
      res[w].start_p99 = pct(st[w], 0.99);
    }
  }
  return res;
}

bool have(const char* prog) {
  std::string cmd = std::string("command -v ") + prog + " >/dev/null 2>&1";
  return system(cmd.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "--child") == 0) return child_main();
  if (argc < 2) {
    fprintf(stderr, "usage: bench_core BYED [RUNS] [NAME=PROGRAM ...]\n");
    return 2;
  }
  int runs = argc > 2 ? atoi(argv[2]) : 300;
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return 1;
  self[n] = '\0';

  std::vector<Wrapper> wrappers = {{"byed", {argv[1], "-q", "--"}}};
  if (have("tini")) wrappers.push_back({"tini", {"tini", "-s", "--"}});
  if (have("tini-static")) {
    wrappers.push_back({"tini-static", {"tini-static", "-s", "--"}});
  }
  if (have("dumb-init")) wrappers.push_back({"dumb-init", {"dumb-init"}});
  for (int i = 3; i < argc; ++i) {
    const char* eq = strchr(argv[i], '=');
    if (eq == nullptr) continue;
    wrappers.push_back(
        {std::string(static_cast<const char*>(argv[i]), eq), {eq + 1, "--"}});
  }
  wrappers.push_back({"(none)", {}});

  std::vector<Result> results = measure(wrappers, self, runs);

  printf("runs per figure: %d\n\n", runs);
  printf("%-11s %14s %14s %14s %14s %10s\n", "wrapper", "signal p50 us",
         "signal p99 us", "start p50 us", "start p99 us", "RSS KiB");
  for (size_t i = 0; i < wrappers.size(); ++i) {
    const Result& r = results[i];
    if (wrappers[i].name == "(none)") {
      printf("%-11s %14.1f %14.1f %14.0f %14.0f %10s\n", "(none)", r.sig_p50,
             r.sig_p99, r.start_p50, r.start_p99, "-");
      continue;
    }
    printf("%-11s %14.1f %14.1f %14.0f %14.0f %10ld\n",
           wrappers[i].name.c_str(), r.sig_p50, r.sig_p99, r.start_p50,
           r.start_p99, r.rss);
  }
  printf("\nratios (byed / other; below 1.00 means byed is faster/smaller)\n");
  for (size_t i = 1; i < wrappers.size(); ++i) {
    if (wrappers[i].name == "(none)") continue;
    const Result& b = results[0];
    const Result& o = results[i];
    printf("  vs %-11s signal p50 %.2f  start p50 %.2f  RSS %.2f\n",
           wrappers[i].name.c_str(), b.sig_p50 / o.sig_p50,
           b.start_p50 / o.start_p50,
           static_cast<double>(b.rss) / static_cast<double>(o.rss));
  }
  return 0;
}
