#include "exit_dir.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core_test_util.h"
#include "test_util.h"

using namespace byed;
using byed::test::slurp;
using byed::test::TempDir;

namespace {

using test::sample_exit_record;

bool marker(const std::string& dir, const ExitRecord& r) {
  std::string err, empty;
  bool ok = write_exit_marker(dir, r, &err, &empty);
  if (!ok) MESSAGE(err);
  return ok;
}

}  // namespace

TEST_CASE("which entries stop a follower") {
  CHECK(is_exit_trigger("main.exit"));
  CHECK(is_exit_trigger("anything"));
  CHECK(is_exit_trigger("dir"));
  CHECK_FALSE(is_exit_trigger(".main.exit.tmp.12"));
  CHECK_FALSE(is_exit_trigger("."));
  CHECK_FALSE(is_exit_trigger(".."));
  CHECK_FALSE(is_exit_trigger(""));
}

TEST_CASE("marker JSON has every field, RFC 3339 UTC times") {
  auto j = nlohmann::json::parse(exit_record_json(sample_exit_record("main")));
  CHECK(j["name"] == "main");
  CHECK(j["pid"] == 1234);
  CHECK(j["exit_code"] == 3);
  CHECK(j["signal"].is_null());
  CHECK(j["started_at"] == "2023-11-14T22:13:20.005Z");
  CHECK(j["exited_at"] == "2023-11-14T22:13:21.999Z");
  CHECK(j["host"] == "h");

  ExitRecord k = sample_exit_record("x");
  k.exit_code.reset();
  k.signal = 9;
  j = nlohmann::json::parse(exit_record_json(k));
  CHECK(j["exit_code"].is_null());
  CHECK(j["signal"] == 9);
}

TEST_CASE("marker is written complete, 0644, and replaces an old one") {
  TempDir d;
  mode_t old = umask(077);  // the marker is for other users too
  CHECK(marker(d.path, sample_exit_record("main")));
  umask(old);
  std::string p = d.path + "/main.exit";
  struct stat st {};
  REQUIRE(stat(p.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0644);
  CHECK(nlohmann::json::parse(slurp(p))["exit_code"] == 3);

  ExitRecord r = sample_exit_record("main");
  r.exit_code = 0;
  CHECK(marker(d.path, r));
  CHECK(nlohmann::json::parse(slurp(p))["exit_code"] == 0);
}

TEST_CASE("a symlink planted at the marker path is replaced, not followed") {
  TempDir d;
  std::string victim = d.path + "/victim";
  { std::ofstream(victim) << "keep"; }
  REQUIRE(symlink(victim.c_str(), (d.path + "/main.exit").c_str()) == 0);
  CHECK(marker(d.path, sample_exit_record("main")));
  CHECK(slurp(victim) == "keep");
  struct stat st {};
  REQUIRE(lstat((d.path + "/main.exit").c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
}

TEST_CASE("a missing directory is an error with context") {
  std::string e, empty;
  CHECK_FALSE(write_exit_marker("/nonexistent-dir", sample_exit_record("main"),
                                &e, &empty));
  CHECK(e.rfind("write marker /nonexistent-dir/main.exit: No such file or "
                "directory",
                0) == 0);
  CHECK(empty.empty());
}

TEST_CASE("a full disk still gets an empty marker: followers must stop") {
  if (geteuid() != 0) {
    MESSAGE("needs root to mount a small tmpfs");
    return;
  }
  TempDir d;
  // One page of data: the filler takes it, the JSON marker finds no room.
  REQUIRE(system(("mount -t tmpfs -o size=4k tmpfs " + d.path).c_str()) == 0);
  {
    UniqueFd fill(open((d.path + "/filler").c_str(),
                       O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    std::string page(4096, 'x');
    while (::write(fill.get(), page.data(), page.size()) > 0) {
    }
  }
  std::string e, empty;
  bool ok = write_exit_marker(d.path, sample_exit_record("main"), &e, &empty);
  CHECK(ok);
  CHECK(e.empty());
  CHECK(empty.find("No space left on device") != std::string::npos);
  struct stat st {};
  CHECK(lstat((d.path + "/main.exit").c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK(st.st_size == 0);
  CHECK(system(("umount " + d.path).c_str()) == 0);
}
