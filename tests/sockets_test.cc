#include "sockets.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_util.h"

using byed::HeldSocket;
using byed::ListenAddress;
using byed::parse_listen;
using byed::test::parse;

namespace {

HeldSocket bound(const std::string& text) {
  HeldSocket h;
  std::string err;
  REQUIRE_MESSAGE(byed::bind_listen(parse(text), &h, &err), err);
  return h;
}

}  // namespace

TEST_CASE("bound sockets are described and matched by the bye rule") {
  auto held = bound("127.0.0.1:0");
  REQUIRE(held.fd.valid());
  CHECK(held.address.rfind("127.0.0.1:", 0) == 0);
  std::string port = held.address.substr(10);
  CHECK(byed::socket_serves(held, parse("127.0.0.1:" + port)));
  CHECK(byed::socket_serves(held, parse(port)));
  CHECK(byed::socket_serves(held, parse("localhost:" + port)));
  CHECK_FALSE(byed::socket_serves(held, parse("127.0.0.2:" + port)));
  CHECK_FALSE(byed::socket_serves(held, parse("127.0.0.1:0")));

  auto any = bound("0");
  std::string any_port = any.address.substr(any.address.rfind(':') + 1);
  CHECK(byed::socket_serves(any, parse("127.0.0.1:" + any_port)));
  // close-on-exec: byed's copy never leaks into a child by accident.
  CHECK((fcntl(any.fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
}
