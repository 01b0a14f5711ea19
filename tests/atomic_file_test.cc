// atomic_file: whole or nothing, unguessable temp names, no symlink followed.
#include "atomic_file.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "test_util.h"

using namespace byed;
using byed::test::slurp;
using byed::test::TempDir;

TEST_CASE("atomic file: created, then replaced, with its mode, nothing left") {
  TempDir d;
  std::string err;
  REQUIRE(write_file_atomically(d.path, "f", "one\n", 0644, &err));
  CHECK(slurp(d.path + "/f") == "one\n");
  REQUIRE(write_file_atomically(d.path, "f", "two\n", 0600, &err));
  CHECK(slurp(d.path + "/f") == "two\n");
  struct stat st {};
  REQUIRE(stat((d.path + "/f").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(std::system(("test $(ls -A '" + d.path + "' | wc -l) -eq 1").c_str()) ==
        0);
}

TEST_CASE("atomic file: a pre-created predictable temp name does not block") {
  TempDir d;
  // What an attacker in a shared directory would plant for the old scheme.
  for (const char* planted : {"f.tmp.1", ".f.tmp", ".f.exit.tmp.1"}) {
    std::ofstream(d.path + "/" + planted) << "x";
  }
  std::string err;
  REQUIRE(write_file_atomically(d.path, "f", "ok\n", 0644, &err));
  CHECK(slurp(d.path + "/f") == "ok\n");
}

TEST_CASE("atomic file: errors name the path") {
  std::string err;
  CHECK_FALSE(write_file_atomically("/nonexistent/dir", "f", "x", 0644, &err));
  CHECK(err.find("/nonexistent/dir/f") != std::string::npos);
}

TEST_CASE("split_path") {
  std::string dir, name;
  split_path("/run/byed.pid", &dir, &name);
  CHECK(dir == "/run");
  CHECK(name == "byed.pid");
  split_path("byed.pid", &dir, &name);
  CHECK(dir == ".");
  split_path("/x", &dir, &name);
  CHECK(dir == "/");
  CHECK(name == "x");
}
