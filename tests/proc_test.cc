// proc.h against the kernel: byed's own children, listed from the file the
// kernel keeps for them, again and again through one open file.
#include "proc.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

using namespace byed;

namespace {

bool has(const std::vector<pid_t>& v, pid_t p) {
  return std::find(v.begin(), v.end(), p) != v.end();
}

pid_t child_that_waits() {
  pid_t pid = fork();
  if (pid == 0) {
    pause();
    _exit(0);
  }
  REQUIRE(pid > 0);
  return pid;
}

}  // namespace

TEST_CASE("own children: more than one page of them") {
  // The kernel fills a read with whole records: about 680 pids of five
  // digits fill a page; the rest need a second read.
  OwnChildren children;
  std::vector<pid_t> pids;
  for (int i = 0; i < 1000; ++i) pids.push_back(child_that_waits());
  const auto now = children.list();
  size_t listed = 0;
  for (pid_t p : pids) listed += has(now, p) ? 1 : 0;
  CHECK(listed == pids.size());
  for (pid_t p : pids) kill(p, SIGKILL);
  for (pid_t p : pids) waitpid(p, nullptr, 0);
}

TEST_CASE("own children: each look sees who the children are now") {
  OwnChildren children;  // opened before any of them exists
  const pid_t a = child_that_waits();
  const pid_t b = child_that_waits();
  auto now = children.list();
  CHECK(has(now, a));
  CHECK(has(now, b));
  kill(a, SIGKILL);
  REQUIRE(waitpid(a, nullptr, 0) == a);
  now = children.list();
  CHECK_FALSE(has(now, a));
  CHECK(has(now, b));
  const pid_t c = child_that_waits();
  now = children.list();
  CHECK(has(now, b));
  CHECK(has(now, c));
  for (pid_t p : {b, c}) {
    kill(p, SIGKILL);
    REQUIRE(waitpid(p, nullptr, 0) == p);
  }
  now = children.list();
  CHECK_FALSE(has(now, b));
  CHECK_FALSE(has(now, c));
}
