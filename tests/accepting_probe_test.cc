// The accepting probe against real programs: a listening socket made here,
// a program that gets it on fd 3 and waits on it in each style servers use,
// seen only once it waits — never while it warms up, never when it merely
// holds the socket.
#include "accepting_probe.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "fd.h"
#include "proc.h"

using byed::AcceptingProbe;
using byed::AcceptingResult;
using byed::UniqueFd;
using byed::WaitHow;

namespace {

const std::string kAcceptor = std::string(BYED_HELPERS_DIR) + "/acceptor";
const std::string kPython = "/usr/bin/python3";
constexpr auto kDeadline = std::chrono::seconds(30);

// The warm-up every python program below goes through first: say 'w', wait
// for the go byte.
const std::string kWarmUp =
    "import os, socket\nos.write(4, b'w')\nos.read(5, 1)\n";

struct Listener {
  UniqueFd fd;
  uint64_t ino = 0;
  Listener() {
    fd.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd.valid());
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(listen(fd.get(), 16) == 0);
    std::string err;
    REQUIRE_MESSAGE(byed::held_socket_inode(fd.get(), &ino, &err), err);
  }
};

// A program started as byed starts a generation — its own process group,
// the socket on fd 3 — plus its phase pipe on fd 4 and its go pipe on fd 5.
class Program {
 public:
  Program(const Listener& l, const std::vector<std::string>& args) {
    int ph[2], go[2];
    REQUIRE(pipe2(ph, O_CLOEXEC) == 0);
    REQUIRE(pipe2(go, O_CLOEXEC) == 0);
    phase_.reset(ph[0]);
    UniqueFd phase_w(ph[1]), go_r(go[0]);
    go_.reset(go[1]);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      setpgid(0, 0);
      // Above 5 first, so that no dup2 below overwrites a source.
      int s = fcntl(l.fd.get(), F_DUPFD_CLOEXEC, 10);
      int p = fcntl(phase_w.get(), F_DUPFD_CLOEXEC, 10);
      int g = fcntl(go_r.get(), F_DUPFD_CLOEXEC, 10);
      if (s < 0 || p < 0 || g < 0 || dup2(s, 3) < 0 || dup2(p, 4) < 0 ||
          dup2(g, 5) < 0) {
        _exit(126);
      }
      execv(argv[0], argv.data());
      _exit(127);
    }
    setpgid(pid_, pid_);
  }
  ~Program() {
    kill(-pid_, SIGKILL);
    if (!reaped_) waitpid(pid_, nullptr, 0);
  }
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  int pid() const { return pid_; }

  // The next byte the program says on its phase pipe.
  char phase() {
    pollfd p{phase_.get(), POLLIN, 0};
    REQUIRE(poll(&p, 1, 30000) == 1);
    char b = 0;
    REQUIRE(read(phase_.get(), &b, 1) == 1);
    return b;
  }
  // Ends the warm-up.
  void go() { REQUIRE(write(go_.get(), "g", 1) == 1); }
  // Waits for the leader to exit and reaps it, as byed does.
  void reap() {
    int status = 0;
    REQUIRE(waitpid(pid_, &status, 0) == pid_);
    reaped_ = true;
  }

 private:
  int pid_ = -1;
  UniqueFd phase_, go_;
  bool reaped_ = false;
};

Program python(const Listener& l, const std::string& body) {
  return Program(l, {kPython, "-c", kWarmUp + body});
}

// Probes until held[i] is seen (or the deadline passes); the last result.
AcceptingResult probe_until_seen(AcceptingProbe& probe, int leader,
                                 const std::vector<uint64_t>& held,
                                 size_t i = 0) {
  auto deadline = std::chrono::steady_clock::now() + kDeadline;
  AcceptingResult r;
  for (;;) {
    probe.probe(leader, held, &r);
    if (r.sockets.at(i).how != WaitHow::kNone ||
        std::chrono::steady_clock::now() > deadline) {
      return r;
    }
    usleep(2000);
  }
}

// Waits until the main thread of pid is blocked in a system call that pred
// accepts (or the deadline passes).
template <typename Pred>
bool main_thread_blocked(int pid, Pred pred) {
  std::string path = "/proc/" + std::to_string(pid) + "/syscall";
  auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (std::chrono::steady_clock::now() < deadline) {
    char buf[256];
    UniqueFd f(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    ssize_t n = f ? read(f.get(), buf, sizeof buf) : -1;
    if (n > 0) {
      auto line = byed::parse_syscall_line(std::string_view(buf, n));
      if (line && line->state == byed::SyscallLine::State::kBlocked &&
          pred(*line)) {
        return true;
      }
    }
    usleep(2000);
  }
  return false;
}

// Runs f in a forked child (for what must not touch this process: dropping
// privileges, a seccomp filter); its result.
template <typename F>
std::string in_child(F f) {
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  UniqueFd r(p[0]), w(p[1]);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    byed::write_all(w.get(), f());
    _exit(0);
  }
  w.reset();
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = read(r.get(), buf, sizeof buf)) > 0) out.append(buf, n);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  return out;
}

// Checks the program, warming up, is not seen; lets it go; checks it is
// seen, how and by whom. Returns the result.
AcceptingResult seen_after_warm_up(Program& prog, const Listener& l) {
  REQUIRE(prog.phase() == 'w');
  AcceptingProbe probe;
  AcceptingResult r;
  probe.probe(prog.pid(), {l.ino}, &r);
  CHECK(r.sockets.at(0).how == WaitHow::kNone);
  CHECK(r.unknown == "");
  CHECK(r.processes >= 1);
  prog.go();
  r = probe_until_seen(probe, prog.pid(), {l.ino});
  CHECK(r.unknown == "");
  return r;
}

}  // namespace

TEST_CASE(
    "accepting: a C server blocked in accept() but not while it warms up") {
  Listener web, admin;
  Program prog(web, {kAcceptor, "accept"});
  auto r = seen_after_warm_up(prog, web);
  CHECK(r.sockets[0].how == WaitHow::kAccept);
  CHECK(r.sockets[0].pid == prog.pid());
  CHECK(byed::describe_waiter("web", r.sockets[0]) ==
        "accepting web: accept pid=" + std::to_string(prog.pid()));
  // A held socket the program never got is not waited on, and that is known.
  AcceptingProbe probe;
  probe.probe(prog.pid(), {web.ino, admin.ino}, &r);
  CHECK(r.sockets[0].how == WaitHow::kAccept);
  CHECK(r.sockets[1].how == WaitHow::kNone);
  CHECK_FALSE(r.all_seen());
  CHECK(r.unknown == "");
}

TEST_CASE("accepting: accept4 and ppoll and the select system call") {
  struct Style {
    const char* mode;
    WaitHow how;
  };
  for (Style style :
       {Style{"accept4", WaitHow::kAccept}, Style{"ppoll", WaitHow::kPoll},
        Style{"select-raw", WaitHow::kSelect}}) {
    CAPTURE(style.mode);
    Listener l;
    Program prog(l, {kAcceptor, style.mode});
    auto r = seen_after_warm_up(prog, l);
    CHECK(r.sockets[0].how == style.how);
    CHECK(r.sockets[0].pid == prog.pid());
  }
}

TEST_CASE("accepting: a second thread blocked in accept()") {
  Listener l;
  Program prog(l, {kAcceptor, "thread-accept"});
  auto r = seen_after_warm_up(prog, l);
  CHECK(r.sockets[0].how == WaitHow::kAccept);
  CHECK(r.sockets[0].pid == prog.pid());
}

TEST_CASE("accepting: python's http.server serve_forever (selectors: poll)") {
  Listener l;
  Program prog = python(l,
                        "import http.server\n"
                        "srv = http.server.HTTPServer(('127.0.0.1', 0),\n"
                        "    http.server.SimpleHTTPRequestHandler,\n"
                        "    bind_and_activate=False)\n"
                        "srv.socket.close()\n"
                        "srv.socket = socket.socket(fileno=3)\n"
                        "srv.serve_forever()\n");
  auto r = seen_after_warm_up(prog, l);
  CHECK(r.sockets[0].how == WaitHow::kPoll);
  CHECK(r.sockets[0].pid == prog.pid());
}

TEST_CASE("accepting: a python asyncio server (epoll)") {
  Listener l;
  Program prog =
      python(l,
             "import asyncio\n"
             "async def main():\n"
             "    srv = await asyncio.start_server(\n"
             "        lambda r, w: w.close(), sock=socket.socket(fileno=3))\n"
             "    await srv.serve_forever()\n"
             "asyncio.run(main())\n");
  auto r = seen_after_warm_up(prog, l);
  CHECK(r.sockets[0].how == WaitHow::kEpoll);
  CHECK(r.sockets[0].pid == prog.pid());
}

TEST_CASE("accepting: python select.select on the socket") {
  Listener l;
  Program prog = python(l,
                        "import select\n"
                        "s = socket.socket(fileno=3)\n"
                        "while True:\n"
                        "    if select.select([s], [], [])[0]:\n"
                        "        s.accept()[0].close()\n");
  auto r = seen_after_warm_up(prog, l);
  CHECK(r.sockets[0].how == WaitHow::kSelect);
  CHECK(r.sockets[0].pid == prog.pid());
}

TEST_CASE(
    "accepting: a worker the leader forked counts even in its own group") {
  Listener l;
  Program prog(l, {kAcceptor, "fork"});
  auto r = seen_after_warm_up(prog, l);
  CHECK(r.sockets[0].how == WaitHow::kAccept);
  CHECK(r.sockets[0].pid != prog.pid());
  CHECK(r.sockets[0].pid > 0);
  // Leader, worker, and the zombie the leader never reaped.
  CHECK(r.processes == 3);
  byed::ProcStat st;
  REQUIRE(byed::proc_stat(r.sockets[0].pid, &st));
  CHECK(st.ppid == prog.pid());
  CHECK(st.pgid == r.sockets[0].pid);
}

TEST_CASE(
    "accepting: a member reparented to byed counts by its process group") {
  // As byed is: a subreaper, so the leader's orphans become its children.
  REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  struct Unset {
    ~Unset() { prctl(PR_SET_CHILD_SUBREAPER, 0); }
  } unset;
  Listener l;
  Program prog(l, {kAcceptor, "orphan"});
  REQUIRE(prog.phase() == 'w');
  prog.go();
  prog.reap();  // the leader is gone: only its group id remains
  AcceptingProbe probe;
  auto r = probe_until_seen(probe, prog.pid(), {l.ino});
  CHECK(r.unknown == "");
  CHECK(r.sockets[0].how == WaitHow::kAccept);
  int orphan = r.sockets[0].pid;
  REQUIRE(orphan > 0);
  CHECK(orphan != prog.pid());
  byed::ProcStat st;
  REQUIRE(byed::proc_stat(orphan, &st));
  CHECK(st.ppid == getpid());
  CHECK(st.pgid == prog.pid());
  kill(orphan, SIGKILL);
  CHECK(waitpid(orphan, nullptr, 0) == orphan);
  // Once the whole generation is gone, nothing is seen, and that is known.
  probe.probe(prog.pid(), {l.ino}, &r);
  CHECK(r.sockets[0].how == WaitHow::kNone);
  CHECK(r.processes == 0);
  CHECK(r.unknown == "");
}

TEST_CASE("not accepting: a process that holds the socket and sleeps") {
  Listener l;
  Program prog(l, {kAcceptor, "sleep"});
  REQUIRE(prog.phase() == 'w');
  prog.go();
  REQUIRE(prog.phase() == 's');
  REQUIRE(main_thread_blocked(prog.pid(), [](const byed::SyscallLine& s) {
    return byed::classify_blocked(s).how == WaitHow::kNone;
  }));
  AcceptingProbe probe;
  AcceptingResult r;
  probe.probe(prog.pid(), {l.ino}, &r);
  CHECK(r.sockets[0].how == WaitHow::kNone);
  CHECK(r.processes == 1);
  CHECK(r.unknown == "");
}

TEST_CASE("not accepting: epoll and poll on the socket for writing only") {
  Listener l;
  Program prog(l, {kAcceptor, "other"});
  REQUIRE(prog.phase() == 'w');
  prog.go();
  REQUIRE(main_thread_blocked(prog.pid(), [](const byed::SyscallLine& s) {
    return byed::classify_blocked(s).how == WaitHow::kPoll;
  }));
  AcceptingProbe probe;
  AcceptingResult r;
  probe.probe(prog.pid(), {l.ino}, &r);
  CHECK(r.sockets[0].how == WaitHow::kNone);
  CHECK(r.processes == 1);
  CHECK(r.unknown == "");
}

TEST_CASE("unknown: a process whose /proc files byed may not read") {
  Listener l;
  // Non-dumpable: its /proc files are root's. A root test looks from a
  // child that drops to nobody instead.
  Program prog(l, {kAcceptor, "nodump"});
  REQUIRE(prog.phase() == 'w');
  prog.go();
  std::string out = in_child([&] {
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) {
      return std::string("cannot drop to nobody");
    }
    AcceptingProbe probe;
    AcceptingResult r;
    probe.probe(prog.pid(), {l.ino}, &r);
    return (r.all_seen() ? "seen " : "not seen ") + r.unknown;
  });
  CHECK(out == "not seen /proc/" + std::to_string(prog.pid()) +
                   "/fd: Permission denied");
}

TEST_CASE("accepting: poll sets are read where process_vm_readv is filtered") {
  Listener l;
  Program prog(l, {kAcceptor, "ppoll"});
  REQUIRE(prog.phase() == 'w');
  prog.go();
  std::string out = in_child([&] {
    // A seccomp filter like a container engine's that refuses
    // process_vm_readv with EPERM.
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_process_vm_readv, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog fprog{sizeof filter / sizeof filter[0], filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) != 0) {
      return std::string("no seccomp");
    }
    char c = 'x', d = 0;
    iovec local{&d, 1}, remote{&c, 1};
    if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != -1 ||
        errno != EPERM) {
      return std::string("not filtered");
    }
    AcceptingProbe probe;
    auto r = probe_until_seen(probe, prog.pid(), {l.ino});
    return std::string(byed::wait_how_name(r.sockets[0].how)) + " " +
           std::to_string(r.sockets[0].pid) + " " + r.unknown;
  });
  CHECK(out == "poll " + std::to_string(prog.pid()) + " ");
}

TEST_CASE("held socket inodes come from fstat and are what /proc shows") {
  Listener l;
  char target[64];
  std::string link = "/proc/self/fd/" + std::to_string(l.fd.get());
  ssize_t n = readlink(link.c_str(), target, sizeof target);
  REQUIRE(n > 0);
  CHECK(byed::parse_socket_link(std::string_view(target, n)) == l.ino);
  uint64_t ino = 0;
  std::string err;
  UniqueFd file(open("/dev/null", O_RDONLY | O_CLOEXEC));
  CHECK_FALSE(byed::held_socket_inode(file.get(), &ino, &err));
  CHECK(err == "fd " + std::to_string(file.get()) + ": not a socket");
  CHECK_FALSE(byed::held_socket_inode(-1, &ino, &err));
  CHECK(err == "fd -1: Bad file descriptor");
}
