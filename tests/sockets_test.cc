#include "sockets.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using byed::ListenAddress;
using byed::parse_listen;
using byed::parse_listen_env;
using byed::SocketError;

TEST_CASE("listen addresses: every documented form") {
  auto a = parse_listen("8080");
  CHECK(a.kind == ListenAddress::Kind::kTcp);
  CHECK(a.host.empty());
  CHECK(a.port == 8080);
  CHECK(a.name.empty());

  a = parse_listen("web=127.0.0.1:80");
  CHECK(a.name == "web");
  CHECK(a.host == "127.0.0.1");
  CHECK(a.port == 80);

  a = parse_listen("[::1]:443");
  CHECK(a.host == "::1");
  CHECK(a.port == 443);

  a = parse_listen("admin=unix:/run/x.sock");
  CHECK(a.kind == ListenAddress::Kind::kUnix);
  CHECK(a.path == "/run/x.sock");
  CHECK(a.name == "admin");

  a = parse_listen("localhost:0");
  CHECK(a.host == "localhost");
  CHECK(a.port == 0);
}

TEST_CASE("listen addresses: bad ones say why") {
  for (const char* bad :
       {"", "x=", "=80", "65536", "-1", "80x", "a.b.c:80", "1.2.3:80", ":80",
        "[::1]", "[::1]80", "[zz]:80", "::1:80", "unix:", "unix:rel",
        "bad:name=1", "n a=80", "127.0.0.1:", "127.0.0.1:99999"}) {
    CAPTURE(bad);
    try {
      parse_listen(bad);
      FAIL("accepted");
    } catch (const SocketError& e) {
      CHECK(e.exit_code() == 2);
      CHECK(std::string(e.what()).find("--listen") != std::string::npos);
    }
  }
}

TEST_CASE("LISTEN_* parsing follows sd_listen_fds") {
  auto e = parse_listen_env("2", "42", "web:admin", 42);
  CHECK(e.count == 2);
  CHECK(e.names == std::vector<std::string>{"web", "admin"});

  // Not ours, or absent: nothing adopted.
  CHECK(parse_listen_env("2", "41", nullptr, 42).count == 0);
  CHECK(parse_listen_env("2", nullptr, nullptr, 42).count == 0);
  CHECK(parse_listen_env(nullptr, "42", nullptr, 42).count == 0);
  CHECK(parse_listen_env("1", "x", nullptr, 42).count == 0);

  // Missing or short names: "unknown", as systemd.
  e = parse_listen_env("3", "42", "a", 42);
  CHECK(e.names == std::vector<std::string>{"a", "unknown", "unknown"});
  e = parse_listen_env("2", "42", nullptr, 42);
  CHECK(e.names == std::vector<std::string>{"unknown", "unknown"});
  e = parse_listen_env("2", "42", "::", 42);
  CHECK(e.names == std::vector<std::string>{"unknown", "unknown"});

  CHECK_THROWS_AS(parse_listen_env("x", "42", nullptr, 42), SocketError);
  CHECK_THROWS_AS(parse_listen_env("-1", "42", nullptr, 42), SocketError);
  CHECK_THROWS_AS(parse_listen_env("100000", "42", nullptr, 42), SocketError);
}

TEST_CASE("fd names") {
  CHECK(byed::valid_fd_name("web"));
  CHECK(byed::valid_fd_name("a.b-c_d"));
  CHECK_FALSE(byed::valid_fd_name(""));
  CHECK_FALSE(byed::valid_fd_name("a:b"));
  CHECK_FALSE(byed::valid_fd_name("a b"));
  CHECK_FALSE(byed::valid_fd_name(std::string(256, 'a')));
}

TEST_CASE("bound sockets are described and matched by the bye rule") {
  auto held = byed::bind_listen(parse_listen("127.0.0.1:0"));
  REQUIRE(held.fd.valid());
  CHECK(held.address.rfind("127.0.0.1:", 0) == 0);
  std::string port = held.address.substr(10);
  CHECK(byed::socket_serves(held, parse_listen("127.0.0.1:" + port)));
  CHECK(byed::socket_serves(held, parse_listen(port)));
  CHECK(byed::socket_serves(held, parse_listen("localhost:" + port)));
  CHECK_FALSE(byed::socket_serves(held, parse_listen("127.0.0.2:" + port)));
  CHECK_FALSE(byed::socket_serves(held, parse_listen("127.0.0.1:0")));

  auto any = byed::bind_listen(parse_listen("0"));
  std::string any_port = any.address.substr(any.address.rfind(':') + 1);
  CHECK(byed::socket_serves(any, parse_listen("127.0.0.1:" + any_port)));
  // close-on-exec: byed's copy never leaks into a child by accident.
  CHECK((fcntl(any.fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
}
