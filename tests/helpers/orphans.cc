// orphans N [REAPER] — leaves N orphaned grandchildren for byed to reap.
//
// Forks N intermediates; each forks a grandchild and exits at once, so the
// grandchild is re-parented to byed (PID 1 or subreaper). The grandchildren
// block on a pipe; once all are orphans this program closes the pipe, they
// exit, and it watches /proc until every one is fully reaped or 5 s pass.
// Prints "orphans=N reparented=R unreaped=U" and exits 0 only when all N
// were re-parented to REAPER (default: its own parent) and none is left
// unreaped.
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace {

// Parent pid of pid, or -1 once the process is gone (reaped).
int parent_of(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("PPid:", 0) == 0) return std::atoi(line.c_str() + 5);
  }
  return -1;
}

double now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 100;
  int reaper = argc > 2 ? std::atoi(argv[2]) : static_cast<int>(getppid());
  int hold[2], report[2];
  if (pipe(hold) != 0 || pipe(report) != 0) return 3;
  for (int i = 0; i < n; ++i) {
    pid_t mid = fork();
    if (mid < 0) return 3;
    if (mid == 0) {
      pid_t g = fork();
      if (g == 0) {
        close(hold[1]);
        close(report[1]);  // or the parent never sees EOF on report
        char c;
        while (read(hold[0], &c, 1) > 0) {
        }
        _exit(0);
      }
      int gp = g;
      (void)!write(report[1], &gp, sizeof gp);
      _exit(0);
    }
  }
  close(hold[0]);
  close(report[1]);
  std::vector<int> grand;
  int gp;
  while (read(report[0], &gp, sizeof gp) == sizeof gp) grand.push_back(gp);
  while (waitpid(-1, nullptr, 0) > 0) {
  }  // reap the intermediates: the grandchildren are orphans now

  int reparented = 0;
  for (int g : grand) {
    if (parent_of(g) == reaper) ++reparented;
  }
  close(hold[1]);  // let the grandchildren exit

  int unreaped = 0;
  double deadline = now() + 5;
  do {
    unreaped = 0;
    for (int g : grand) {
      if (parent_of(g) != -1) ++unreaped;
    }
    if (unreaped == 0) break;
    usleep(10000);
  } while (now() < deadline);
  printf("orphans=%d reparented=%d unreaped=%d\n",
         static_cast<int>(grand.size()), reparented, unreaped);
  return (static_cast<int>(grand.size()) == n && reparented == n &&
          unreaped == 0)
             ? 0
             : 1;
}
