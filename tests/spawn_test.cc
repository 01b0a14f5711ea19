// spawn_child with real processes: fd layout, environment, exec errors.
#include "spawn.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "fd.h"

using byed::ExecStatus;
using byed::spawn_child;
using byed::SpawnedChild;
using byed::SpawnRequest;
using byed::UniqueFd;

namespace {

SpawnedChild spawned(const SpawnRequest& req) {
  SpawnedChild c;
  std::string err;
  REQUIRE_MESSAGE(spawn_child(req, &c, &err), err);
  REQUIRE(c.pid > 0);
  return c;
}

// Waits for the child's exec verdict: "" when it ran, else its message.
std::string verdict(SpawnedChild& c, const std::string& argv0) {
  pollfd p{c.exec_status.get(), POLLIN, 0};
  REQUIRE(poll(&p, 1, 10000) == 1);
  std::string err;
  ExecStatus s = byed::read_exec_status(c.exec_status.get(), argv0, &err);
  REQUIRE(s != ExecStatus::kPending);
  return s == ExecStatus::kRan ? "" : err;
}

const std::string kFdlist = std::string(BYED_HELPERS_DIR) + "/fdlist";

// Runs the request with the child's stdout on a pipe; returns its output and
// wait status.
std::pair<std::string, int> run(SpawnRequest req) {
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  UniqueFd r(p[0]), w(p[1]);
  int saved = dup(STDOUT_FILENO);
  dup2(w.get(), STDOUT_FILENO);
  auto res = spawned(req);
  dup2(saved, STDOUT_FILENO);
  close(saved);
  w.reset();
  CHECK(verdict(res, req.argv[0]) == "");
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(r.get(), buf, sizeof buf)) > 0) out.append(buf, n);
  int status = 0;
  REQUIRE(waitpid(res.pid, &status, 0) == res.pid);
  return {out, status};
}

}  // namespace

TEST_CASE("exec candidates follow PATH like execvp") {
  using byed::exec_candidates;
  CHECK(exec_candidates("./x", "/bin") == std::vector<std::string>{"./x"});
  CHECK(exec_candidates("sh", "/a:/b") ==
        std::vector<std::string>{"/a/sh", "/b/sh"});
  CHECK(exec_candidates("sh", "/a::/b") ==
        std::vector<std::string>{"/a/sh", "./sh", "/b/sh"});
}

TEST_CASE("a child gets only 0,1,2 and a clean signal mask") {
  // An fd byed holds without close-on-exec still must not leak.
  UniqueFd leaky(open("/dev/null", O_RDONLY));
  REQUIRE(leaky.valid());
  SpawnRequest req;
  req.argv = {kFdlist};
  auto [out, status] = run(req);
  CHECK(WIFEXITED(status));
  CHECK(out.find("fds 0 1 2\n") != std::string::npos);
  CHECK(out.find("sigblk 0000000000000000") != std::string::npos);
  CHECK(out.find("sigign 0000000000000000") != std::string::npos);
}

TEST_CASE("sockets land at 3.. in order with LISTEN_* and the upgrade fd") {
  int a[2], b[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) == 0);
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b) == 0);
  UniqueFd a0(a[0]), a1(a[1]), b0(b[0]), b1(b[1]);
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  UniqueFd pr(p[0]), pw(p[1]);

  SpawnRequest req;
  req.argv = {kFdlist};
  req.env = {"FDLIST_ENV=LISTEN_FDS,LISTEN_PID,LISTEN_FDNAMES,UPGRADE_FD"};
  // b0 first: order is the request's, not the fd numbers'.
  req.listen_fds = {b0.get(), a0.get()};
  req.listen_names = {"web", "admin"};
  req.upgrade_fd = pw.get();
  auto [out, status] = run(req);
  CHECK(WIFEXITED(status));
  CHECK(out.find("fds 0 1 2 3 4 5\n") != std::string::npos);
  CHECK(out.find("env LISTEN_FDS=2\n") != std::string::npos);
  CHECK(out.find("env LISTEN_FDNAMES=web:admin\n") != std::string::npos);
  CHECK(out.find("env UPGRADE_FD=5\n") != std::string::npos);
  // LISTEN_PID is the child's own pid.
  auto pidpos = out.find("pid ");
  REQUIRE(pidpos != std::string::npos);
  int pid = std::stoi(out.substr(pidpos + 4));
  CHECK(out.find("env LISTEN_PID=" + std::to_string(pid) + "\n") !=
        std::string::npos);
}

TEST_CASE("a source already sitting on a target number is not clobbered") {
  // Put a pipe's read end at fd 3 and pass it as the second socket slot, so
  // naive dup2 of the first source onto 3 would destroy it.
  int p[2];
  REQUIRE(pipe(p) == 0);
  int saved3 = fcntl(3, F_DUPFD_CLOEXEC, 100);  // 3 may be in use: keep it
  REQUIRE(dup2(p[0], 3) == 3);
  UniqueFd other(open("/dev/null", O_RDONLY | O_CLOEXEC));
  SpawnRequest req;
  req.argv = {"/bin/sh", "-c", "read line <&4 && echo got=$line"};
  req.listen_fds = {other.get(), 3};
  REQUIRE(write(p[1], "hello\n", 6) == 6);
  close(p[1]);
  auto [out, status] = run(req);
  CHECK(WIFEXITED(status));
  CHECK(out == "got=hello\n");
  close(p[0]);
  if (saved3 >= 0) {
    dup2(saved3, 3);
    close(saved3);
  } else {
    close(3);
  }
}

TEST_CASE("exec errors come back with errno and a shell's exit code") {
  SpawnRequest req;
  req.argv = {"/nonexistent/program"};
  auto r = spawned(req);
  CHECK(verdict(r, req.argv[0]) ==
        "cannot run '/nonexistent/program': No such file or directory");
  int status = 0;
  waitpid(r.pid, &status, 0);
  CHECK(WEXITSTATUS(status) == 127);

  char path[] = "/tmp/byed-spawn-test-XXXXXX";  // exists, not executable
  UniqueFd tmp(mkstemp(path));
  REQUIRE(tmp.valid());
  fchmod(tmp.get(), 0644);
  req.argv = {path};
  r = spawned(req);
  CHECK(verdict(r, path).find("Permission denied") != std::string::npos);
  unlink(path);
  waitpid(r.pid, &status, 0);
  CHECK(WEXITSTATUS(status) == 126);

  req.argv = {"no-such-program-anywhere"};
  req.env = {"PATH=/usr/bin:/bin"};
  r = spawned(req);
  CHECK(verdict(r, req.argv[0]).find("No such file") != std::string::npos);
  waitpid(r.pid, &status, 0);
  CHECK(WEXITSTATUS(status) == 127);
}
