// byeserver — an HTTP server written against the bye protocol.
//
// Takes its listening socket from LISTEN_FDS (when LISTEN_PID is its pid),
// else binds 0.0.0.0:$BYESERVER_PORT, as bye's systemd_tcp_listener does.
// When it can serve it writes one byte to the pipe named by UPGRADE_FD and
// prints "ready pid=P". On TERM it drains: stops accepting, answers the
// request in hand on every connection with "Connection: close", closes, and
// exits 0 once all connections are done (or after 5 s).
//
// Each response body is "pid=P\n". Behaviour for fault tests comes from the
// file named by BYESERVER_MODE_FILE, read at start: "ok" (default), "fail"
// (exit 1 at once), "hang" (serve but never say ready), "slow MS" (wait MS
// before binding and saying ready), "crash N" (abort() on the Nth request,
// before answering it: a crash under load). BYESERVER_CRASH_AFTER=N does
// the same for every start, whatever the mode file says. With BYESERVER_TIMES
// set it also prints "times pid=P main=T ready=T" and, on exit, "drain pid=P
// t=T" (monotonic seconds) for the upgrade benchmark.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace {

volatile sig_atomic_t g_drain = 0;
timespec g_drain_at{};

void on_term(int) {
  if (!g_drain) clock_gettime(CLOCK_MONOTONIC, &g_drain_at);
  g_drain = 1;
}

double now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int listening_fd() {
  const char* fds = getenv("LISTEN_FDS");
  const char* pid = getenv("LISTEN_PID");
  if (fds && pid && atoi(fds) >= 1 && atoi(pid) == getpid()) return 3;
  const char* port = getenv("BYESERVER_PORT");
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port ? atoi(port) : 8080));
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      listen(s, SOMAXCONN) != 0) {
    perror("byeserver: bind");
    exit(2);
  }
  return s;
}

struct Conn {
  int fd;
  std::string in;
};

}  // namespace

int main() {
  const double started = now();
  std::string mode = "ok";
  if (const char* f = getenv("BYESERVER_MODE_FILE")) {
    std::ifstream in(f);
    std::getline(in, mode);
  }
  if (mode == "fail") return 1;
  if (mode.rfind("slow ", 0) == 0) usleep(atoi(mode.c_str() + 5) * 1000);
  long crash_after = 0;
  if (mode.rfind("crash ", 0) == 0) crash_after = atol(mode.c_str() + 6);
  if (const char* c = getenv("BYESERVER_CRASH_AFTER")) crash_after = atol(c);
  long served = 0;

  struct sigaction sa {};
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  int lfd = listening_fd();
  fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
  if (mode != "hang") {
    if (const char* u = getenv("UPGRADE_FD")) {
      (void)!write(atoi(u), "1", 1);  // bye::ready(): one byte, once per pid
      close(atoi(u));
    }
  }
  const double ready = now();
  printf("ready pid=%d\n", static_cast<int>(getpid()));
  // For the upgrade benchmark: when main started and when it said ready
  // (CLOCK_MONOTONIC seconds), and below, when the drain signal came.
  if (getenv("BYESERVER_TIMES")) {
    printf("times pid=%d main=%.6f ready=%.6f\n", static_cast<int>(getpid()),
           started, ready);
  }
  fflush(stdout);

  std::string body = "pid=" + std::to_string(getpid()) + "\n";
  std::vector<Conn> conns;
  double drain_deadline = 0;
  while (true) {
    // One reading of the flag per round: the handler may set it at any time.
    const bool draining = g_drain;
    if (draining && drain_deadline == 0) drain_deadline = now() + 5;
    if (draining && (conns.empty() || now() > drain_deadline)) break;
    std::vector<pollfd> p;
    if (!draining) p.push_back({lfd, POLLIN, 0});
    for (auto& c : conns) p.push_back({c.fd, POLLIN, 0});
    if (poll(p.data(), p.size(), 100) < 0) continue;
    size_t off = 0;
    if (!draining) {
      off = 1;
      if (p[0].revents & POLLIN) {
        for (int i = 0; i < 64; ++i) {
          int c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          conns.push_back({c, ""});
        }
      }
    }
    std::vector<Conn> keep;
    for (size_t i = 0; i < conns.size(); ++i) {
      Conn& c = conns[i];
      bool alive = true;
      if (i + off < p.size() && (p[i + off].revents & (POLLIN | POLLHUP))) {
        char buf[8192];
        ssize_t n = read(c.fd, buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
          // nothing yet
        } else if (n <= 0) {
          alive = false;
        } else {
          c.in.append(buf, static_cast<size_t>(n));
        }
      }
      size_t end;
      while (alive && (end = c.in.find("\r\n\r\n")) != std::string::npos) {
        std::string req = c.in.substr(0, end);
        c.in.erase(0, end + 4);
        if (crash_after > 0 && ++served == crash_after) abort();
        bool close_after = draining ||
                           req.find("HTTP/1.0") != std::string::npos ||
                           req.find("onnection: close") != std::string::npos;
        std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: " +
                           std::to_string(body.size()) +
                           (close_after ? "\r\nConnection: close" : "") +
                           "\r\n\r\n" + body;
        if (write(c.fd, resp.data(), resp.size()) < 0) alive = false;
        if (close_after) alive = false;
      }
      if (alive) {
        keep.push_back(std::move(c));
      } else {
        close(c.fd);
      }
    }
    conns = std::move(keep);
  }
  for (auto& c : conns) close(c.fd);
  if (getenv("BYESERVER_TIMES")) {
    printf("drain pid=%d t=%.6f\n", static_cast<int>(getpid()),
           g_drain_at.tv_sec + g_drain_at.tv_nsec / 1e9);
    fflush(stdout);
  }
  return 0;
}
