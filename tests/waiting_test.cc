// The /proc text and process memory a readiness probe reads, and the rule it
// applies: which held sockets a process waits on.
#include "waiting.h"

#include <doctest/doctest.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>

#include <cstring>

using byed::BlockedWait;
using byed::EpollTarget;
using byed::ProcessWaits;
using byed::SyscallLine;
using byed::Waiter;
using byed::WaitHow;

namespace {

std::vector<EpollTarget> targets(std::string_view text) {
  std::vector<EpollTarget> out;
  byed::parse_epoll_fdinfo(text, &out);
  return out;
}

// A blocked-call line as the kernel prints it.
std::string blocked_line(long nr, uint64_t a0, uint64_t a1, uint64_t a2 = 0) {
  char buf[256];
  snprintf(buf, sizeof buf,
           "%ld 0x%llx 0x%llx 0x%llx 0x0 0x0 0x0 0x7ffe9bf38238 "
           "0x7f8729e52503\n",
           nr, static_cast<unsigned long long>(a0),
           static_cast<unsigned long long>(a1),
           static_cast<unsigned long long>(a2));
  return buf;
}

BlockedWait classify(const std::string& line) {
  auto s = byed::parse_syscall_line(line);
  REQUIRE(s.has_value());
  return byed::classify_blocked(*s);
}

}  // namespace

TEST_CASE("epoll fdinfo: targets with their inodes as kernels print them") {
  auto t = targets(
      "pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t1033\n"
      "tfd:        3 events:       19 data:     7f0200000003  pos:0 "
      "ino:4b98 sdev:9\n"
      "tfd:       12 events:        4 data:                c  pos:0 "
      "ino:1a sdev:9\n");
  REQUIRE(t.size() == 2);
  CHECK(t[0].fd == 3);
  CHECK(t[0].events == 0x19);
  CHECK(t[0].has_ino);
  CHECK(t[0].ino == 0x4b98);
  CHECK(t[1].fd == 12);
  CHECK(t[1].events == EPOLLOUT);
  CHECK(t[1].ino == 0x1a);
}

TEST_CASE("epoll fdinfo: no inode from older kernels and bad lines skipped") {
  auto t = targets(
      "pos:\t0\nflags:\t02\n"
      "tfd:        5 events:       1d data:                5\n"
      "tfd:     nope events:       1d data:                5\n"
      "tfd:        7 events:       zz data:                7\n"
      "tfd:        8 data:                8\n"
      "tfd:        9 events:        1 data: 9  pos:0 ino:xyz sdev:9\n"
      "  tfd:       10 events:        1 data:                a");
  REQUIRE(t.size() == 2);
  CHECK(t[0].fd == 5);
  CHECK(t[0].events == 0x1d);
  CHECK_FALSE(t[0].has_ino);
  CHECK(t[1].fd == 10);
  CHECK(targets("").empty());
  CHECK(targets("pos:\t0\nflags:\t02\nmnt_id:\t15\n").empty());
}

TEST_CASE("syscall file: running or not in a call or blocked in one") {
  auto r = byed::parse_syscall_line("running\n");
  REQUIRE(r.has_value());
  CHECK(r->state == SyscallLine::State::kRunning);

  auto n = byed::parse_syscall_line("-1 0x7ffc92997a08 0x7f02dee322ad\n");
  REQUIRE(n.has_value());
  CHECK(n->state == SyscallLine::State::kNoSyscall);
  CHECK(n->sp == 0x7ffc92997a08);
  CHECK(n->pc == 0x7f02dee322ad);

  auto b = byed::parse_syscall_line(
      "230 0x0 0x0 0x7ffe9bf38250 0x7ffe9bf38290 0x0 0x0 0x7ffe9bf38238 "
      "0x7f8729e52503\n");
  REQUIRE(b.has_value());
  CHECK(b->state == SyscallLine::State::kBlocked);
  CHECK(b->nr == 230);
  CHECK(b->args[2] == 0x7ffe9bf38250);
  CHECK(b->args[3] == 0x7ffe9bf38290);
  CHECK(b->sp == 0x7ffe9bf38238);
  CHECK(b->pc == 0x7f8729e52503);
  // Decimal where there is no 0x.
  auto d = byed::parse_syscall_line("7 10 2 0 0 0 0 0x1 0x2");
  REQUIRE(d.has_value());
  CHECK(d->args[0] == 10);
  CHECK(d->args[1] == 2);
  CHECK(*d == *byed::parse_syscall_line("7 0xa 0x2 0 0 0 0 1 2\n"));
  CHECK(*d != *b);
}

TEST_CASE("syscall file: anything else is rejected") {
  for (const char* bad :
       {"", "\n", "running 1", "Running", "-1 0x1", "-1 0x1 0x2 0x3",
        "7 0x1 0x2", "7 0x1 0x2 0x3 0x4 0x5 0x6 0x7",
        "7 0x1 0x2 0x3 0x4 0x5 0x6 0x7 0x8 0x9", "x 0x1 0x2",
        "7 0xg 0x2 0x3 0x4 0x5 0x6 0x7 0x8", "7 0x 0x2 0x3 0x4 0x5 0x6 0x7 0x8",
        "7 -1 0x2 0x3 0x4 0x5 0x6 0x7 0x8"}) {
    CAPTURE(bad);
    CHECK_FALSE(byed::parse_syscall_line(bad).has_value());
  }
}

TEST_CASE(
    "blocked calls: accept poll select epoll_wait by this arch's numbers") {
  auto a = classify(blocked_line(__NR_accept4, 3, 0, 0));
  CHECK(a.how == WaitHow::kAccept);
  CHECK(a.fd == 3);
#ifdef __NR_accept
  CHECK(classify(blocked_line(__NR_accept, 7, 0x1234)).fd == 7);
  CHECK(classify(blocked_line(__NR_accept, 7, 0x1234)).how == WaitHow::kAccept);
#endif
  auto p = classify(blocked_line(__NR_ppoll, 0x7f00aa00, 4));
  CHECK(p.how == WaitHow::kPoll);
  CHECK(p.addr == 0x7f00aa00);
  CHECK(p.count == 4);
#ifdef __NR_poll
  auto p2 = classify(blocked_line(__NR_poll, 0x5000, 2, 500));
  CHECK(p2.how == WaitHow::kPoll);
  CHECK(p2.addr == 0x5000);
  CHECK(p2.count == 2);
#endif
  auto s = classify(blocked_line(__NR_pselect6, 9, 0x7ff0));
  CHECK(s.how == WaitHow::kSelect);
  CHECK(s.count == 9);
  CHECK(s.addr == 0x7ff0);
#ifdef __NR_select
  auto s2 = classify(blocked_line(__NR_select, 4, 0x6000));
  CHECK(s2.how == WaitHow::kSelect);
  CHECK(s2.count == 4);
  CHECK(s2.addr == 0x6000);
#endif
  auto e = classify(blocked_line(__NR_epoll_pwait, 6, 0x1000, 64));
  CHECK(e.how == WaitHow::kEpoll);
  CHECK(e.fd == 6);
#ifdef __NR_epoll_wait
  CHECK(classify(blocked_line(__NR_epoll_wait, 5, 0x1000, 64)).fd == 5);
#endif
#ifdef __NR_epoll_pwait2
  CHECK(classify(blocked_line(__NR_epoll_pwait2, 8, 0x1000, 64)).how ==
        WaitHow::kEpoll);
#endif
  // Other calls, and threads not in one, wait on nothing here.
  CHECK(classify(blocked_line(__NR_read, 3, 0x1000, 1)).how == WaitHow::kNone);
  CHECK(classify(blocked_line(__NR_wait4, 3, 0, 0)).how == WaitHow::kNone);
  CHECK(classify("running").how == WaitHow::kNone);
  CHECK(classify("-1 0x1 0x2").how == WaitHow::kNone);
  // An fd argument is a 32-bit int to the kernel.
  CHECK(classify(blocked_line(__NR_accept4, 0xffffffff00000004ULL, 0)).fd == 4);
}

TEST_CASE("the numbers are the target architecture's") {
#if defined(__x86_64__)
  CHECK(classify(blocked_line(43, 3, 0)).how == WaitHow::kAccept);
  CHECK(classify(blocked_line(288, 3, 0)).how == WaitHow::kAccept);
  CHECK(classify(blocked_line(7, 0x10, 1)).how == WaitHow::kPoll);
  CHECK(classify(blocked_line(271, 0x10, 1)).how == WaitHow::kPoll);
  CHECK(classify(blocked_line(23, 4, 0x10)).how == WaitHow::kSelect);
  CHECK(classify(blocked_line(270, 4, 0x10)).how == WaitHow::kSelect);
  CHECK(classify(blocked_line(232, 4, 0x10)).how == WaitHow::kEpoll);
  CHECK(classify(blocked_line(281, 4, 0x10)).how == WaitHow::kEpoll);
  CHECK(classify(blocked_line(441, 4, 0x10)).how == WaitHow::kEpoll);
#elif defined(__aarch64__)
  CHECK(classify(blocked_line(242, 3, 0)).how == WaitHow::kAccept);
  CHECK(classify(blocked_line(73, 0x10, 1)).how == WaitHow::kPoll);
  CHECK(classify(blocked_line(72, 4, 0x10)).how == WaitHow::kSelect);
  CHECK(classify(blocked_line(22, 4, 0x10)).how == WaitHow::kEpoll);
  CHECK(classify(blocked_line(441, 4, 0x10)).how == WaitHow::kEpoll);
  CHECK(classify(blocked_line(202, 3, 0)).how == WaitHow::kAccept);
#endif
}

TEST_CASE("pollfd arrays: the fds waited on for reading") {
  pollfd fds[5] = {{4, POLLIN, 0},
                   {5, POLLOUT, 0},
                   {-6, POLLIN, 0},
                   {7, POLLRDNORM, POLLIN},
                   {8, POLLIN | POLLPRI, 0}};
  unsigned char bytes[sizeof fds + 3];
  std::memcpy(bytes, fds, sizeof fds);
  std::vector<int> out;
  byed::poll_read_fds(bytes, sizeof fds, &out);
  CHECK(out == std::vector<int>{4, 7, 8});
  // A partial trailing entry is not read.
  out.clear();
  byed::poll_read_fds(bytes, sizeof(pollfd) * 2 + 7, &out);
  CHECK(out == std::vector<int>{4});
  out.clear();
  byed::poll_read_fds(bytes, 0, &out);
  CHECK(out.empty());
}

TEST_CASE("fd_sets: the fds set below nfds") {
  fd_set set;
  FD_ZERO(&set);
  FD_SET(0, &set);
  FD_SET(3, &set);
  FD_SET(64, &set);
  FD_SET(70, &set);
  FD_SET(1000, &set);
  unsigned char bytes[sizeof set];
  std::memcpy(bytes, &set, sizeof set);
  std::vector<int> out;
  byed::fdset_read_fds(bytes, sizeof bytes, 1001, &out);
  CHECK(out == std::vector<int>{0, 3, 64, 70, 1000});
  out.clear();
  byed::fdset_read_fds(bytes, sizeof bytes, 70, &out);  // 70 is not below 70
  CHECK(out == std::vector<int>{0, 3, 64});
  out.clear();
  byed::fdset_read_fds(bytes, byed::fdset_bytes(4), 1024, &out);  // short copy
  CHECK(out == std::vector<int>{0, 3});
  CHECK(byed::fdset_bytes(0) == 0);
  CHECK(byed::fdset_bytes(1) == sizeof(long));
  CHECK(byed::fdset_bytes(64) == 8);
  CHECK(byed::fdset_bytes(65) == 16);
  CHECK(byed::fdset_bytes(FD_SETSIZE) == sizeof(fd_set));
}

TEST_CASE("fd links: sockets by inode and epoll instances") {
  CHECK(byed::parse_socket_link("socket:[12345]") == 12345u);
  CHECK(byed::parse_socket_link("socket:[0]") == 0u);
  for (const char* bad :
       {"socket:[]", "socket:[12", "socket:12]", "pipe:[5]", "socket:[1a]",
        "/tmp/socket:[5]", "socket:[-1]", ""}) {
    CAPTURE(bad);
    CHECK_FALSE(byed::parse_socket_link(bad).has_value());
  }
  CHECK(byed::is_epoll_link("anon_inode:[eventpoll]"));
  CHECK_FALSE(byed::is_epoll_link("anon_inode:[eventfd]"));
  CHECK_FALSE(byed::is_epoll_link("socket:[1]"));
}

TEST_CASE("match: epoll by inode or else by fd and for reading only") {
  std::vector<uint64_t> held = {100, 200, 300};
  ProcessWaits p;
  p.sockets = {{3, 100}, {4, 200}, {5, 300}};
  // 100 by inode (its fd number is stale: that is why inodes win), 200 only
  // for writing, 300 by fd on a kernel without inodes.
  p.epoll_targets = {{9, EPOLLIN, 100, true},
                     {4, EPOLLOUT, 200, true},
                     {5, EPOLLIN | EPOLLET, 0, false}};
  std::vector<Waiter> found(held.size());
  CHECK(byed::match_waits(p, 42, held, &found) == 2);
  CHECK(found[0].pid == 42);
  CHECK(found[0].how == WaitHow::kEpoll);
  CHECK(found[1].how == WaitHow::kNone);
  CHECK(found[2].how == WaitHow::kEpoll);
  // A socket that is in the set with no inode and no fd of this process.
  ProcessWaits q;
  q.epoll_targets = {{4, EPOLLIN, 0, false}};
  std::vector<Waiter> none(held.size());
  CHECK(byed::match_waits(q, 1, held, &none) == 0);
}

TEST_CASE("match: blocked calls by fd and the first process seen keeps it") {
  std::vector<uint64_t> held = {100, 200, 300};
  ProcessWaits p;
  p.sockets = {{3, 100}, {4, 200}};
  p.blocked = {
      {4, WaitHow::kAccept}, {3, WaitHow::kPoll}, {8, WaitHow::kSelect}};
  std::vector<Waiter> found(held.size());
  CHECK(byed::match_waits(p, 7, held, &found) == 2);
  CHECK(found[0].how == WaitHow::kPoll);
  CHECK(found[1].how == WaitHow::kAccept);
  CHECK(found[2].how == WaitHow::kNone);
  ProcessWaits later;
  later.sockets = {{3, 100}, {6, 300}};
  later.blocked = {{3, WaitHow::kSelect}, {6, WaitHow::kSelect}};
  CHECK(byed::match_waits(later, 8, held, &found) == 1);
  CHECK(found[0].pid == 7);
  CHECK(found[2].pid == 8);
  CHECK(found[2].how == WaitHow::kSelect);
  // Holding a socket is not waiting on it.
  ProcessWaits idle;
  idle.sockets = {{3, 100}, {4, 200}, {5, 300}};
  std::vector<Waiter> none(held.size());
  CHECK(byed::match_waits(idle, 9, held, &none) == 0);
}

TEST_CASE("the log says which socket was seen how") {
  CHECK(byed::describe_waiter("web", Waiter{123, WaitHow::kEpoll}) ==
        "accepting web: epoll pid=123");
  CHECK(byed::describe_waiter("admin", Waiter{7, WaitHow::kAccept}) ==
        "accepting admin: accept pid=7");
  CHECK(byed::describe_waiter("web", Waiter{}) ==
        "accepting web: not waited on");
  CHECK(std::string(byed::wait_how_name(WaitHow::kPoll)) == "poll");
  CHECK(std::string(byed::wait_how_name(WaitHow::kSelect)) == "select");
}

TEST_CASE("syscall file: any whitespace separates, 0x alone is no number") {
  auto s = byed::parse_syscall_line(
      "7\t0x10 0x1\r0x0  0x0\n0x0 0x0 0x7ffe 0x7f87\n");
  REQUIRE(s);
  CHECK(s->nr == 7);
  CHECK(s->args[0] == 0x10);
  CHECK(s->args[1] == 1);
  CHECK(s->pc == 0x7f87);
  CHECK_FALSE(
      byed::parse_syscall_line("7 0x 0x1 0x0 0x0 0x0 0x0 0x7ffe 0x7f87"));
  CHECK_FALSE(byed::parse_syscall_line("7 0x10 0x1 0x0 0x0 0x0 0x0 0x7ffe 0x"));
  CHECK_FALSE(byed::parse_syscall_line("7 0xg 0x1 0x0 0x0 0x0 0x0 0x7ffe 0x1"));
  // The fd of a pollfd may be 0.
  pollfd fds[1] = {{0, POLLIN, 0}};
  std::vector<int> out;
  byed::poll_read_fds(reinterpret_cast<const unsigned char*>(fds), sizeof fds,
                      &out);
  CHECK(out == std::vector<int>{0});
}
