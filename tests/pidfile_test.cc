#include "pidfile.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "test_util.h"

using namespace byed;
using byed::test::slurp;
using byed::test::TempDir;

namespace {

bool write(const std::string& path, pid_t pid) {
  std::string err;
  bool ok = write_pidfile(path, pid, &err);
  if (!ok) MESSAGE(err);
  return ok;
}

// What clear_stale_pidfile did ("" for nothing); it must not fail here.
std::string cleared(const std::string& path) {
  std::string note, err;
  REQUIRE_MESSAGE(clear_stale_pidfile(path, &note, &err), err);
  return note;
}

}  // namespace

TEST_CASE("pidfile: pid and newline, 0644, no temp left behind") {
  TempDir d;
  std::string p = d.path + "/byed.pid";
  mode_t old = umask(077);
  CHECK(write(p, 4242));
  umask(old);
  CHECK(slurp(p) == "4242\n");
  struct stat st {};
  REQUIRE(stat(p.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0644);
  CHECK(read_pidfile(p) == 4242);
  CHECK(std::system(("test $(ls -A '" + d.path + "' | wc -l) -eq 1").c_str()) ==
        0);
}

TEST_CASE("pidfile: a planted symlink is replaced, never followed") {
  TempDir d;
  std::string victim = d.path + "/victim";
  { std::ofstream(victim) << "precious\n"; }
  std::string p = d.path + "/byed.pid";
  REQUIRE(symlink(victim.c_str(), p.c_str()) == 0);
  CHECK(read_pidfile(p) == -1);  // O_NOFOLLOW: a link holds no pid
  CHECK(write(p, 7));
  CHECK(slurp(victim) == "precious\n");
  struct stat st {};
  REQUIRE(lstat(p.c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
}

TEST_CASE("pidfile: removed only while it holds our pid") {
  TempDir d;
  std::string p = d.path + "/byed.pid";
  REQUIRE(write(p, 10));
  remove_pidfile(p, 11);
  CHECK(read_pidfile(p) == 10);
  remove_pidfile(p, 10);
  CHECK(access(p.c_str(), F_OK) != 0);
}

TEST_CASE("pidfile: malformed content holds no pid; errors carry the path") {
  TempDir d;
  std::string p = d.path + "/x";
  for (const char* bad : {"", "\n", "12", "x\n", "-3\n", "12 \n"}) {
    std::ofstream(p) << bad;
    CAPTURE(bad);
    CHECK(read_pidfile(p) == -1);
  }
  std::string err;
  CHECK_FALSE(write_pidfile("/nonexistent/dir/p", 1, &err));
  CHECK(err.find("/nonexistent/dir/p") != std::string::npos);
}

TEST_CASE("stale pidfile: a dead pid is removed, a live non-byed one too") {
  TempDir d;
  std::string p = d.path + "/byed.pid";
  pid_t c = fork();
  if (c == 0) _exit(0);
  REQUIRE(c > 0);
  waitpid(c, nullptr, 0);  // c is now a pid nobody has
  REQUIRE(write(p, c));
  std::string note = cleared(p);
  CHECK(note.find("is gone") != std::string::npos);
  CHECK(access(p.c_str(), F_OK) != 0);

  REQUIRE(write(p, getppid()));  // alive, not a byed
  note = cleared(p);
  CHECK(note.find("removed stale pidfile") != std::string::npos);
  CHECK(access(p.c_str(), F_OK) != 0);

  CHECK(cleared(p) == "");  // nothing there: nothing to do
  REQUIRE(write(p, getpid()));
  CHECK(cleared(p) == "");  // our own pid is not stale
}
