// sigrecorder — reports every signal it receives on stdout.
//
// Prints "ready pid=P" once its handlers are installed, then "signal NAME"
// for each signal. TERM, INT and QUIT then kill it with that same signal
// (exit status 128+N), unless --ignore-stop is given, in which case it keeps
// running and only SIGKILL ends it. --exit-after N: exit 0 after N signals.
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace {

bool g_ignore_stop = false;
volatile sig_atomic_t g_seen = 0;

void say(const char* a, const char* b) {
  char buf[128];
  size_t n = 0;
  for (const char* p = a; *p && n < sizeof buf - 2; ++p) buf[n++] = *p;
  for (const char* p = b; *p && n < sizeof buf - 2; ++p) buf[n++] = *p;
  buf[n++] = '\n';
  (void)!write(STDOUT_FILENO, buf, n);
}

void on_signal(int sig) {
  const char* name = sigabbrev_np(sig);
  say("signal ", name ? name : "?");
  g_seen = g_seen + 1;
  if (!g_ignore_stop && (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT)) {
    signal(sig, SIG_DFL);
    raise(sig);
  }
}

}  // namespace

int main(int argc, char** argv) {
  long exit_after = -1;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--ignore-stop") == 0) g_ignore_stop = true;
    if (strcmp(argv[i], "--exit-after") == 0 && i + 1 < argc) {
      exit_after = strtol(argv[++i], nullptr, 10);
    }
  }
  const int sigs[] = {SIGHUP,  SIGINT,  SIGQUIT,  SIGUSR1,   SIGUSR2,
                      SIGTERM, SIGALRM, SIGWINCH, SIGTTIN,   SIGTTOU,
                      SIGURG,  SIGCONT, SIGPROF,  SIGVTALRM, SIGIO};
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int s : sigs) sigaction(s, &sa, nullptr);

  char line[64];
  snprintf(line, sizeof line, "%d", static_cast<int>(getpid()));
  say("ready pid=", line);
  sigset_t none;
  sigemptyset(&none);
  while (exit_after < 0 || g_seen < exit_after) sigsuspend(&none);
  return 0;
}
