// notifyexit — says READY=1 from a helper process that exits at once, then
// execs its arguments: what `sh -c 'systemd-notify --ready; exec server'`
// does, without the shell. The helper is reaped before the exec, so by the
// time byed reads the datagram its sender is usually gone.
//
//   notifyexit PROGRAM [ARGS...]
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: notifyexit PROGRAM [ARGS...]\n");
    return 2;
  }
  const char* addr = std::getenv("NOTIFY_SOCKET");
  pid_t helper = fork();
  if (helper == 0) {
    if (addr == nullptr || strlen(addr) >= sizeof(sockaddr_un::sun_path)) {
      _exit(1);
    }
    sockaddr_un su{};
    su.sun_family = AF_UNIX;
    strncpy(su.sun_path, addr, sizeof su.sun_path - 1);
    if (su.sun_path[0] == '@') su.sun_path[0] = '\0';
    socklen_t len =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + strlen(addr));
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const char msg[] = "READY=1";
    _exit(sendto(fd, msg, sizeof msg - 1, 0, reinterpret_cast<sockaddr*>(&su),
                 len) < 0
              ? 1
              : 0);
  }
  int status = 0;
  waitpid(helper, &status, 0);
  execvp(argv[1], argv + 1);
  std::perror("notifyexit: exec");
  return 127;
}
