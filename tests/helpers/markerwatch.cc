// markerwatch DIR N — checks that markers appear complete.
//
// Watches DIR with inotify and, on every IN_CREATE or IN_MOVED_TO, opens and
// reads the new file at once — the moment a reader in another container
// would. A marker counts as complete when its content is a whole JSON object
// ending in "}\n". Prints "ready" once watching, then, after N markers, or
// once a file named "fence" appears (the test wrote all it will; a
// 10-minute backstop), "complete=C partial=P other=O" and exits 0 only if P ==
// 0, O == 0 and C == N. "other" counts events for names not ending in ".exit"
// (temp files a writer made visible).
#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  std::string dir = argv[1];
  int want = std::atoi(argv[2]);
  int in = inotify_init1(IN_CLOEXEC);
  if (in < 0 || inotify_add_watch(in, dir.c_str(), IN_CREATE | IN_MOVED_TO) < 0)
    return 3;
  printf("ready\n");
  fflush(stdout);
  int complete = 0, partial = 0, other = 0;
  time_t deadline = time(nullptr) + 600;
  bool fenced = false;
  alignas(inotify_event) char buf[65536];
  while (complete + partial < want && !fenced && time(nullptr) < deadline) {
    pollfd p{in, POLLIN, 0};
    if (poll(&p, 1, 1000) <= 0) continue;
    ssize_t n = read(in, buf, sizeof buf);
    for (char* q = buf; n > 0 && q < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(q);
      q += sizeof(inotify_event) + ev->len;
      std::string name = ev->len ? ev->name : "";
      if (name == "fence") {
        fenced = true;
        continue;
      }
      if (name.size() < 5 || name.compare(name.size() - 5, 5, ".exit") != 0) {
        ++other;
        continue;
      }
      std::string content;
      int fd = open((dir + "/" + name).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        char b[4096];
        ssize_t r;
        while ((r = read(fd, b, sizeof b)) > 0) content.append(b, r);
        close(fd);
      }
      bool whole = content.size() > 2 && content.front() == '{' &&
                   content.compare(content.size() - 2, 2, "}\n") == 0;
      ++(whole ? complete : partial);
    }
  }
  printf("complete=%d partial=%d other=%d\n", complete, partial, other);
  return (partial == 0 && other == 0 && complete == want) ? 0 : 1;
}
