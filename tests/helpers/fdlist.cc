// fdlist — prints what a program started under byed inherits.
//
// One line each: "fds 0 1 2 ..." (open descriptors, from /proc/self/fd),
// "kind FD pipe|socket|PATH" for each fd above 2, "sock FD ADDR" for each
// socket,
// "sigblk HEX" and "sigign HEX" (blocked and ignored signal masks from
// /proc/self/status), "pgid P pid P ppid P", then every argument it was given
// as "arg VALUE" and the environment variables named by FDLIST_ENV
// (comma-separated) as "env NAME=VALUE".
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::vector<int> fds;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return 3;
  int self = dirfd(d);
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    int fd = atoi(e->d_name);
    if (fd != self) fds.push_back(fd);
  }
  closedir(d);
  std::sort(fds.begin(), fds.end());
  printf("fds");
  for (int fd : fds) printf(" %d", fd);
  printf("\n");
  for (int fd : fds) {
    char target[256] = "";
    std::string link = "/proc/self/fd/" + std::to_string(fd);
    ssize_t tn = readlink(link.c_str(), target, sizeof target - 1);
    if (fd > 2 && tn > 0) {
      target[tn] = '\0';
      // "pipe", "socket", or a path: what kind of thing was inherited.
      std::string kind = target;
      kind = kind.substr(0, kind.find(':'));
      printf("kind %d %s\n", fd, kind.c_str());
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) continue;
    char host[INET6_ADDRSTRLEN] = "";
    if (ss.ss_family == AF_INET) {
      auto& s4 = reinterpret_cast<sockaddr_in&>(ss);
      inet_ntop(AF_INET, &s4.sin_addr, host, sizeof host);
      printf("sock %d %s:%d\n", fd, host, ntohs(s4.sin_port));
    } else if (ss.ss_family == AF_INET6) {
      auto& s6 = reinterpret_cast<sockaddr_in6&>(ss);
      inet_ntop(AF_INET6, &s6.sin6_addr, host, sizeof host);
      printf("sock %d [%s]:%d\n", fd, host, ntohs(s6.sin6_port));
    } else if (ss.ss_family == AF_UNIX) {
      printf("sock %d unix:%s\n", fd,
             reinterpret_cast<sockaddr_un&>(ss).sun_path);
    }
  }

  FILE* st = fopen("/proc/self/status", "r");
  char line[256];
  while (st != nullptr && fgets(line, sizeof line, st) != nullptr) {
    if (strncmp(line, "SigBlk:", 7) == 0) printf("sigblk %s", line + 8);
    if (strncmp(line, "SigIgn:", 7) == 0) printf("sigign %s", line + 8);
  }
  if (st != nullptr) fclose(st);
  printf("pgid %d pid %d ppid %d\n", static_cast<int>(getpgrp()),
         static_cast<int>(getpid()), static_cast<int>(getppid()));
  for (int i = 1; i < argc; ++i) printf("arg %s\n", argv[i]);
  if (const char* names = getenv("FDLIST_ENV")) {
    std::string all = names;
    size_t start = 0;
    while (start <= all.size()) {
      size_t comma = all.find(',', start);
      std::string name = all.substr(start, comma - start);
      const char* v = getenv(name.c_str());
      printf("env %s=%s\n", name.c_str(), v ? v : "<unset>");
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return 0;
}
