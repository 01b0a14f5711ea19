// bench_probe — what one accepting probe of a generation costs.
//
//   bench_probe [RUNS]
//
// Forks a generation shaped like a pre-forking server: a leader (its own
// process group) that holds two listening sockets and waits in poll() on a
// pipe, and WORKERS children that each hold both sockets plus a few more fds
// and wait in epoll_wait() with the first socket in their set. Then times
// AcceptingProbe::probe() on it, p50/p99 over RUNS, in two cases:
//   * seen:     the first socket, which the first worker waits on;
//   * not seen: the second socket, which nobody waits on, so every process,
//               thread and fd of the generation is looked at (the cost of a
//               generation still warming up).
// Not a pass/fail test: the figures go in the README.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "accepting_probe.h"
#include "bench_util.h"

namespace {

constexpr int kWorkers = 4;

int listener() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      listen(fd, 16) != 0) {
    perror("listen");
    exit(1);
  }
  return fd;
}

[[noreturn]] void worker(int sock, int ready) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = sock;
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, sock, &ev) != 0) _exit(1);
  // A few more fds, as a real worker has (a log file, a pipe, /dev/urandom).
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) _exit(1);
  open("/dev/null", O_WRONLY | O_CLOEXEC);
  open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (write(ready, "r", 1) != 1) _exit(1);
  epoll_event out;
  for (;;) epoll_wait(ep, &out, 1, -1);
}

double run(byed::AcceptingProbe& probe, int leader,
           const std::vector<uint64_t>& held, bool expect_seen) {
  byed::AcceptingResult r;
  double t0 = bench::now_us();
  probe.probe(leader, held, &r);
  double t = bench::now_us() - t0;
  if (r.all_seen() != expect_seen || !r.unknown.empty()) {
    fprintf(stderr, "unexpected probe result: seen=%d unknown=%s\n",
            r.all_seen(), r.unknown.c_str());
    exit(1);
  }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = argc > 1 ? atoi(argv[1]) : 2000;
  int a = listener(), b = listener();
  uint64_t ino_a = 0, ino_b = 0;
  std::string err;
  if (!byed::held_socket_inode(a, &ino_a, &err) ||
      !byed::held_socket_inode(b, &ino_b, &err)) {
    fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }
  int ready[2], hold[2];
  if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(hold, O_CLOEXEC) != 0) return 1;
  pid_t leader = fork();
  if (leader == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (int i = 0; i < kWorkers; ++i) {
      if (fork() == 0) worker(a, ready[1]);
    }
    // The arbiter: holds the sockets, waits on a pipe.
    pollfd p{hold[0], POLLIN, 0};
    for (;;) poll(&p, 1, -1);
  }
  setpgid(leader, leader);
  for (int i = 0; i < kWorkers; ++i) {
    char c;
    if (read(ready[0], &c, 1) != 1) return 1;
  }
  byed::AcceptingProbe probe;
  std::vector<double> seen, not_seen;
  for (int i = 0; i < runs; ++i) {
    seen.push_back(run(probe, leader, {ino_a}, true));
    not_seen.push_back(run(probe, leader, {ino_b}, false));
  }
  byed::AcceptingResult r;
  probe.probe(leader, {ino_b}, &r);
  printf("generation: %d processes; %d runs each\n", r.processes, runs);
  printf("%-10s p50 %7.1f us  p99 %7.1f us\n", "seen", bench::pct(seen, 0.5),
         bench::pct(seen, 0.99));
  printf("%-10s p50 %7.1f us  p99 %7.1f us\n", "not seen",
         bench::pct(not_seen, 0.5), bench::pct(not_seen, 0.99));
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  printf("bench process max RSS %ld KiB\n", ru.ru_maxrss);
  kill(-leader, SIGKILL);
  waitpid(leader, nullptr, 0);
  return 0;
}
