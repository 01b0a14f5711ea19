// acceptor — a program that gets a listening socket on fd 3 and waits for
// connections on it in one of the ways servers do, after a warm-up the caller
// controls: what the accepting probe must (and must not) see.
//
//   acceptor MODE    (fd 3: the socket; fd 4: phase pipe out; fd 5: go pipe in)
//
// Writes 'w' on fd 4 when it is warming up (holding the socket, not waiting
// on it), then blocks until a byte arrives on fd 5. Then, by MODE:
//   accept         accept() on fd 3, forever
//   accept4        accept4() on fd 3, forever
//   ppoll          ppoll() for reading on fd 3, then accepts, forever
//   select-raw     the select system call itself where the architecture has
//                  one (glibc's select() is pselect6 now), else pselect()
//   thread-accept  a second thread accepts; the main thread joins it
//   fork           forks a child that exits at once (left a zombie) and a
//                  worker in its own process group that accepts; waits for it
//   orphan         forks a worker (same process group) that accepts; exits
//   nodump         accepts; non-dumpable from the start (its /proc files are
//                  root's, its memory unreadable to others)
//   sleep          writes 's' on fd 4 and pauses: holds the socket, no more
//   other          an epoll set with fd 5 for reading and fd 3 for writing
//                  only, then poll() with fd 3 for writing only: waits, but
//                  not for connections
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

namespace {

[[noreturn]] void accept_forever() {
  for (;;) {
    int c = accept(3, nullptr, nullptr);
    if (c >= 0) close(c);
  }
}

void* accept_thread(void*) { accept_forever(); }

void accept_one() {
  int c = accept4(3, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (c >= 0) close(c);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: acceptor MODE\n");
    return 2;
  }
  const char* mode = argv[1];
  if (strcmp(mode, "nodump") == 0) prctl(PR_SET_DUMPABLE, 0);
  char b;
  if (write(4, "w", 1) != 1 || read(5, &b, 1) != 1) return 3;
  if (strcmp(mode, "accept") == 0) accept_forever();
  if (strcmp(mode, "accept4") == 0) {
    for (;;) accept_one();
  }
  if (strcmp(mode, "ppoll") == 0) {
    for (;;) {
      pollfd p{3, POLLIN, 0};
      if (ppoll(&p, 1, nullptr, nullptr) == 1) accept_one();
    }
  }
  if (strcmp(mode, "select-raw") == 0) {
    for (;;) {
      fd_set set;
      FD_ZERO(&set);
      FD_SET(3, &set);
#ifdef SYS_select
      long n = syscall(SYS_select, 4, &set, nullptr, nullptr, nullptr);
#else
      long n = pselect(4, &set, nullptr, nullptr, nullptr, nullptr);
#endif
      if (n == 1) accept_one();
    }
  }
  if (strcmp(mode, "thread-accept") == 0) {
    pthread_t t;
    if (pthread_create(&t, nullptr, accept_thread, nullptr) != 0) return 3;
    pthread_join(t, nullptr);
    return 0;
  }
  if (strcmp(mode, "fork") == 0) {
    pid_t quitter = fork();
    if (quitter == 0) _exit(0);
    pid_t worker = fork();
    if (worker == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      setpgid(0, 0);
      accept_forever();
    }
    int status;
    waitpid(worker, &status, 0);
    return 0;
  }
  if (strcmp(mode, "orphan") == 0) {
    if (fork() == 0) accept_forever();
    return 0;
  }
  if (strcmp(mode, "nodump") == 0) accept_forever();
  if (strcmp(mode, "sleep") == 0) {
    if (write(4, "s", 1) != 1) return 3;
    for (;;) pause();
  }
  if (strcmp(mode, "other") == 0) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    epoll_event in{}, out{};
    in.events = EPOLLIN;
    in.data.fd = 5;
    out.events = EPOLLOUT;
    out.data.fd = 3;
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, 5, &in) != 0 ||
        epoll_ctl(ep, EPOLL_CTL_ADD, 3, &out) != 0) {
      return 3;
    }
    for (;;) {
      pollfd p[2] = {{5, POLLIN, 0}, {3, POLLOUT, 0}};
      poll(p, 2, -1);
    }
  }
  std::fprintf(stderr, "acceptor: unknown mode %s\n", mode);
  return 2;
}
