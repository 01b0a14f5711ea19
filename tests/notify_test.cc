#include "notify.h"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace byed;

TEST_CASE("notify datagrams parse into key/value pairs") {
  auto kv = parse_notify("READY=1\nSTATUS=serving on :80\nMAINPID=7");
  CHECK(kv["READY"] == "1");
  CHECK(kv["STATUS"] == "serving on :80");
  CHECK(kv["MAINPID"] == "7");
  CHECK(parse_notify("").empty());
  CHECK(parse_notify("garbage\n=x\n\n").empty());
  CHECK(parse_notify("A=1\nA=2")["A"] == "2");
  CHECK(parse_notify("X=a=b")["X"] == "a=b");
}

TEST_CASE("a generation's endpoint receives with the sender's pid") {
  NotifyEndpoint ep;
  std::string err;
  REQUIRE(open_notify_endpoint(3, &ep, &err));
  CHECK(ep.address.rfind("@byed/" + std::to_string(getpid()) + "/3/", 0) == 0);
  CHECK(send_notify(ep.address, "READY=1", &err));
  NotifyDatagram d;
  REQUIRE(receive_notify(ep.fd.get(), d));
  CHECK(d.text == "READY=1");
  CHECK(d.sender == getpid());
  CHECK_FALSE(receive_notify(ep.fd.get(), d));  // nothing more waiting

  // Two endpoints never share an address.
  NotifyEndpoint other;
  REQUIRE(open_notify_endpoint(3, &other, &err));
  CHECK(other.address != ep.address);
}

TEST_CASE("senders count when they are the leader or in its group") {
  CHECK(sender_in_generation(getpid(), getpid()));
  CHECK_FALSE(sender_in_generation(0, getpid()));
  CHECK_FALSE(sender_in_generation(getpid(), 0));
  // A child in a new process group it leads: its own member, not ours.
  int up[2], down[2];  // child -> parent "in its group"; parent -> child "go"
  REQUIRE(pipe(up) == 0);
  REQUIRE(pipe(down) == 0);
  pid_t c = fork();
  if (c == 0) {
    setpgid(0, 0);
    char x;
    (void)!write(up[1], "r", 1);
    (void)!read(down[0], &x, 1);
    _exit(0);
  }
  char x;
  REQUIRE(read(up[0], &x, 1) == 1);
  CHECK(sender_in_generation(c, c));
  CHECK_FALSE(sender_in_generation(c, getpid()));
  CHECK_FALSE(sender_in_generation(getpid(), c));
  REQUIRE(write(down[1], "g", 1) == 1);
  waitpid(c, nullptr, 0);
  for (int fd : {up[0], up[1], down[0], down[1]}) close(fd);
}

TEST_CASE("bad upstream addresses are reported, not crashed on") {
  std::string err;
  CHECK_FALSE(send_notify("relative", "READY=1", &err));
  CHECK(err.find("not a unix socket") != std::string::npos);
  CHECK_FALSE(send_notify("", "READY=1", &err));
  CHECK_FALSE(send_notify("/nonexistent/sock", "READY=1", &err));
  CHECK(err.find("/nonexistent/sock") != std::string::npos);
}
