// bench_exitdir — how fast a follower's child hears that the group stops.
//
//   bench_exitdir BYED [RUNS]
//
// Each run starts `byed --exit-dir D -- <child>` in a fresh directory; the
// child reports readiness and writes one byte when TERM arrives. We create
// an empty marker (as the Go exitdir leader does) and time marker -> byte.
// Side by side, the same with a polling follower (a shell loop that checks
// the directory every second and then kills its child), the way sidecars
// that poll do it. Prints p50/p99 and the ratio.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

extern char** environ;

#include "bench_util.h"

namespace {

using bench::now_us;
using bench::pct;

void on_term(int) {
  (void)!write(1, "t", 1);
  _exit(0);
}

int child_main() {
  signal(SIGTERM, on_term);
  (void)!write(1, "R", 1);
  for (;;) pause();
}

// One run: returns microseconds from marker creation to the child's byte.
double one_run(const std::vector<std::string>& argv_template,
               const std::string& dir) {
  std::vector<std::string> argv;
  for (auto s : argv_template) {
    size_t at = s.find("{DIR}");
    if (at != std::string::npos) s.replace(at, 5, dir);
    argv.push_back(s);
  }
  int p[2];
  if (pipe(p) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  std::vector<char*> a;
  for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  pid_t pid;
  if (posix_spawnp(&pid, a[0], &fa, nullptr, a.data(), environ) != 0) return -1;
  posix_spawn_file_actions_destroy(&fa);
  close(p[1]);
  char c;
  double result = -1;
  if (read(p[0], &c, 1) == 1 && c == 'R') {
    double t0 = now_us();
    close(open((dir + "/main.exit").c_str(), O_CREAT | O_WRONLY, 0644));
    if (read(p[0], &c, 1) == 1 && c == 't') result = now_us() - t0;
  }
  close(p[0]);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return result;
}

std::vector<double> series(const std::vector<std::string>& argv, int runs) {
  std::vector<double> out;
  for (int i = 0; i < runs; ++i) {
    char tmpl[] = "/tmp/bench-exitdir-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) break;
    std::string dir = tmpl;
    double us = one_run(argv, dir);
    unlink((dir + "/main.exit").c_str());
    rmdir(dir.c_str());
    if (us >= 0) out.push_back(us);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "--child") == 0) return child_main();
  if (argc < 2) {
    fprintf(stderr, "usage: bench_exitdir BYED [RUNS]\n");
    return 2;
  }
  int runs = argc > 2 ? atoi(argv[2]) : 200;
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return 1;
  self[n] = '\0';

  auto byed = series({argv[1], "-q", "--exit-dir", "{DIR}", "--exit-role",
                      "follower", "--", self, "--child"},
                     runs);
  // A 1 s poller: what a sidecar without inotify does. Fewer runs: each
  // costs half a second on average.
  int poll_runs = std::max(5, runs / 20);
  std::string loop = std::string(self) +
                     " --child & c=$!; while [ -z \"$(ls -A {DIR})\" ]; do "
                     "sleep 1; done; kill -TERM $c; wait $c";
  auto poller = series({"/bin/sh", "-c", loop}, poll_runs);
  if (byed.empty() || poller.empty()) {
    fprintf(stderr, "bench_exitdir: runs failed\n");
    return 1;
  }
  printf("marker created -> child's TERM handler runs\n");
  printf("%-16s %6s %12s %12s\n", "follower", "runs", "p50 us", "p99 us");
  printf("%-16s %6zu %12.1f %12.1f\n", "byed (inotify)", byed.size(),
         pct(byed, 0.5), pct(byed, 0.99));
  printf("%-16s %6zu %12.1f %12.1f\n", "1 s poller", poller.size(),
         pct(poller, 0.5), pct(poller, 0.99));
  printf("ratio poller/byed p50: %.0fx\n", pct(poller, 0.5) / pct(byed, 0.5));
  return 0;
}
