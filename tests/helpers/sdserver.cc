// sdserver — a server written against libsystemd's sd_listen_fds, as many
// daemons are. Serves HTTP/1.0 on the first passed socket; each response
// body is "pid=P fds=N names=A:B\n". Exits 0 on TERM after finishing the
// request in hand; exits 3 when it was given no socket.
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {
volatile sig_atomic_t g_stop = 0;
void on_term(int) { g_stop = 1; }
}  // namespace

int main() {
  char** names = nullptr;
  int n = sd_listen_fds_with_names(0, &names);
  if (n <= 0) {
    fprintf(stderr, "sdserver: no sockets (sd_listen_fds=%d)\n", n);
    return 3;
  }
  std::string joined;
  for (int i = 0; i < n; ++i) {
    if (i > 0) joined += ':';
    joined += names[i];
    free(names[i]);
  }
  free(names);
  struct sigaction sa {};
  sa.sa_handler = on_term;  // no SA_RESTART: accept() returns EINTR
  sigaction(SIGTERM, &sa, nullptr);

  std::string body = "pid=" + std::to_string(getpid()) +
                     " fds=" + std::to_string(n) + " names=" + joined + "\n";
  std::string resp =
      "HTTP/1.0 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nConnection: close\r\n\r\n" + body;
  while (!g_stop) {
    int c = accept4(SD_LISTEN_FDS_START, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    char buf[4096];
    (void)!read(c, buf, sizeof buf);  // one read is enough for our clients
    (void)!write(c, resp.data(), resp.size());
    close(c);
  }
  return 0;
}
