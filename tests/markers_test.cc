#include "markers.h"

#include <doctest/doctest.h>
#include <signal.h>

#include "core_test_util.h"

using namespace byed;

namespace {

using test::exited;
using test::killed;
using test::sample_exit_record;

}  // namespace

TEST_CASE("marker names") {
  CHECK(marker_name("main") == "main.exit");
  CHECK(ready_marker_name("db") == "db.ready");
}

TEST_CASE("marker JSON: every field, keys in order, RFC 3339 UTC times") {
  CHECK(exit_record_json(sample_exit_record("main")) ==
        "{\"exit_code\":3,\"exited_at\":\"2023-11-14T22:13:21.999Z\","
        "\"host\":\"h\",\"name\":\"main\",\"pid\":1234,\"signal\":null,"
        "\"started_at\":\"2023-11-14T22:13:20.005Z\"}\n");
  ExitRecord k = sample_exit_record("x");
  k.exit_code.reset();
  k.signal = 9;
  k.host = "a\"b";
  CHECK(exit_record_json(k) ==
        "{\"exit_code\":null,\"exited_at\":\"2023-11-14T22:13:21.999Z\","
        "\"host\":\"a\\\"b\",\"name\":\"x\",\"pid\":1234,\"signal\":9,"
        "\"started_at\":\"2023-11-14T22:13:20.005Z\"}\n");
}

TEST_CASE("exit record: an exit code or the signal that killed it") {
  const timespec started{1700000000, 5000000};
  const timespec ended{1700000001, 999000000};
  ExitRecord r = exit_record("main", WriteExitMarker{2, 77, exited(3), started},
                             ended, "box");
  CHECK(r.name == "main");
  CHECK(r.pid == 77);
  CHECK(r.exit_code == 3);
  CHECK_FALSE(r.signal.has_value());
  CHECK(r.started_at.tv_sec == started.tv_sec);
  CHECK(r.started_at.tv_nsec == started.tv_nsec);
  CHECK(r.exited_at.tv_sec == ended.tv_sec);
  CHECK(r.exited_at.tv_nsec == ended.tv_nsec);
  CHECK(r.host == "box");
  CHECK(exit_record("m", WriteExitMarker{1, 5, exited(0), started}, ended, "")
            .exit_code == 0);

  ExitRecord k = exit_record(
      "main", WriteExitMarker{2, 77, killed(SIGKILL), started}, ended, "box");
  CHECK_FALSE(k.exit_code.has_value());
  CHECK(k.signal == SIGKILL);
}

TEST_CASE("ready marker JSON") {
  CHECK(ready_marker_json("db", 42) == "{\"name\":\"db\",\"pid\":42}\n");
  CHECK(ready_marker_json("a\\b", 1) == "{\"name\":\"a\\\\b\",\"pid\":1}\n");
}
