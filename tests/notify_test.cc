#include "notify.h"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace byed;

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

namespace {

NotifyDatagram from(pid_t pid, uid_t uid = geteuid()) {
  NotifyDatagram d;
  d.text = "READY=1";
  d.sender = pid;
  d.uid = uid;
  return d;
}

}  // namespace

TEST_CASE("senders: the leader, its descendants, the gone; never outsiders") {
  uid_t me = geteuid();
  pid_t self = 0x3ffffff0;  // stands in for byed: no ancestor of anyone here
  CHECK(sender_in_generation(from(getpid()), getpid(), self, me));
  CHECK_FALSE(sender_in_generation(from(0), getpid(), self, me));
  CHECK_FALSE(sender_in_generation(from(getpid()), 0, self, me));
  // Another uid never counts, not even the leader's pid with it.
  CHECK_FALSE(
      sender_in_generation(from(getpid(), me + 4242), getpid(), self, me + 1));

  // A child of ours in a group of its own: it descends from us (we are its
  // generation's leader here), but we do not descend from it.
  int up[2], down[2];  // child -> parent "set up"; parent -> child "go"
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
  CHECK(sender_in_generation(from(c), getpid(), self, me));  // descendant
  CHECK(sender_in_generation(from(c), c, self, me));         // the leader
  // We joined nothing of c's, and do not descend from it: outside.
  CHECK_FALSE(sender_in_generation(from(getpid()), c, self, me));
  // Even in c's process group, a process that does not descend from c
  // (nor from byed) is outside: what spoofing by setpgid would look like.
  pid_t joiner = fork();
  if (joiner == 0) {
    char y;
    (void)!read(down[0], &y, 1);
    _exit(0);
  }
  REQUIRE(setpgid(joiner, c) == 0);
  CHECK_FALSE(sender_in_generation(from(joiner), c, self, me));
  // ...but one byed adopted (its parent is byed) and in the group counts.
  CHECK(sender_in_generation(from(joiner), c, getpid(), me));
  REQUIRE(write(down[1], "gg", 2) == 2);
  waitpid(c, nullptr, 0);
  waitpid(joiner, nullptr, 0);

  // Gone by the time it is read (c is reaped): its uid is what counts.
  CHECK(sender_in_generation(from(c), getpid() + 100000, self, me));
  CHECK_FALSE(
      sender_in_generation(from(c, me + 1), getpid() + 100000, self, me));
  for (int fd : {up[0], up[1], down[0], down[1]}) close(fd);
}

TEST_CASE("received datagrams carry the sender's pid and uid") {
  NotifyEndpoint ep;
  std::string err;
  REQUIRE(open_notify_endpoint(9, &ep, &err));
  REQUIRE(send_notify(ep.address, "READY=1", &err));
  NotifyDatagram d;
  REQUIRE(receive_notify(ep.fd.get(), d));
  CHECK(d.sender == getpid());
  CHECK(d.uid == geteuid());
}

TEST_CASE("bad upstream addresses are reported, not crashed on") {
  std::string err;
  CHECK_FALSE(send_notify("relative", "READY=1", &err));
  CHECK(err.find("not a unix socket") != std::string::npos);
  CHECK_FALSE(send_notify("", "READY=1", &err));
  CHECK_FALSE(send_notify("/nonexistent/sock", "READY=1", &err));
  CHECK(err.find("/nonexistent/sock") != std::string::npos);
}
