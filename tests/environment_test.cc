#include "environment.h"

#include <doctest/doctest.h>

using namespace byed;

TEST_CASE("child environment: byed's own less what byed consumes") {
  const char* env[] = {"PATH=/bin",  "BYED_STOP_TIMEOUT=5s",
                       "HOME=/root", "LISTEN_FDS=1",
                       "EMPTY=",     nullptr};
  std::vector<std::string> got = child_environment(env);
  CHECK(got == std::vector<std::string>{"PATH=/bin", "HOME=/root", "EMPTY="});
  CHECK(child_environment(nullptr).empty());
}

TEST_CASE("probe environment: the held sockets' addresses") {
  std::vector<std::string> base = {"PATH=/bin"};
  CHECK(probe_environment(base, {}) == base);
  CHECK(probe_environment(
            base, {{"http", "127.0.0.1:8080"}, {"admin", "/run/admin.sock"}}) ==
        std::vector<std::string>{
            "PATH=/bin",
            "BYED_SOCKETS=http=127.0.0.1:8080,admin=/run/admin.sock",
            "BYED_ADDRESS=127.0.0.1:8080"});
}

TEST_CASE("remove_env_var: that variable only") {
  std::vector<std::string> env = {"JOURNAL_STREAM=8:9", "JOURNAL_STREAMX=1",
                                  "PATH=/bin", "JOURNAL_STREAM"};
  remove_env_var(&env, "JOURNAL_STREAM");
  CHECK(env == std::vector<std::string>{"JOURNAL_STREAMX=1", "PATH=/bin",
                                        "JOURNAL_STREAM"});
}
