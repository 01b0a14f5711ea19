// test_util.h — small helpers shared by the unit tests.
#pragma once

#include <doctest/doctest.h>
#include <stdlib.h>

#include <fstream>
#include <sstream>
#include <string>

#include "config.h"

namespace byed::test {

// A fresh directory under /tmp, removed with everything in it.
struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/byed-test-XXXXXX";
    REQUIRE(mkdtemp(t) != nullptr);
    path = t;
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

inline std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// A --listen value that must parse.
inline ListenAddress parse(const std::string& text) {
  ListenAddress a;
  std::string err;
  REQUIRE_MESSAGE(parse_listen(text, &a, &err), err);
  return a;
}

}  // namespace byed::test
