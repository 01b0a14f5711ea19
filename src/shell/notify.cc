#include "notify.h"

#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>

#include "proc.h"
#include "sys_error.h"

namespace byed {
namespace {

bool to_sockaddr(const std::string& address, sockaddr_un& su, socklen_t& len) {
  su = {};
  su.sun_family = AF_UNIX;
  if (address.empty() || address.size() >= sizeof su.sun_path) return false;
  if (address[0] != '/' && address[0] != '@') return false;
  memcpy(su.sun_path, address.data(), address.size());
  if (address[0] == '@') su.sun_path[0] = '\0';  // abstract namespace
  len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) +
                               address.size() + (address[0] == '/' ? 1 : 0));
  return true;
}

}  // namespace

bool send_notify(const std::string& address, const std::string& state,
                 std::string* err) {
  sockaddr_un su{};
  socklen_t len = 0;
  if (!to_sockaddr(address, su, len)) {
    *err = "NOTIFY_SOCKET '" + address + "': not a unix socket address";
    return false;
  }
  UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    *err = std::string("notify: socket: ") + strerror(errno);
    return false;
  }
  if (sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
             reinterpret_cast<sockaddr*>(&su), len) < 0) {
    *err = "notify " + address + ": " + strerror(errno);
    return false;
  }
  return true;
}

bool open_notify_endpoint(int gen, NotifyEndpoint* out, std::string* err) {
  unsigned char rnd[8] = {};
  if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != sizeof rnd) {
    // Unguessability is a bonus: the credential check is what filters.
    for (auto& b : rnd) b = static_cast<unsigned char>(rand());
  }
  char hex[17];
  for (int i = 0; i < 8; ++i) snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
  std::string address = "@byed/" + std::to_string(getpid()) + "/" +
                        std::to_string(gen) + "/" + hex;
  UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return fail(err, sys_error("notify socket"));
  int one = 1;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0) {
    return fail(err, sys_error("notify socket SO_PASSCRED"));
  }
  sockaddr_un su{};
  socklen_t len = 0;
  to_sockaddr(address, su, len);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&su), len) != 0) {
    return fail(err, sys_error("notify socket " + address));
  }
  out->fd = std::move(fd);
  out->address = address;
  return true;
}

bool receive_notify(int fd, NotifyDatagram& out) {
  char buf[4096];
  alignas(cmsghdr) char
      ctrl[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int) * 16)];
  iovec iov{buf, sizeof buf - 1};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctrl;
  msg.msg_controllen = sizeof ctrl;
  ssize_t n;
  do {
    n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return false;
  out.text.assign(buf, static_cast<size_t>(n));
  out.sender = 0;
  out.uid = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr;
       c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SCM_CREDENTIALS) {
      ucred cred{};
      memcpy(&cred, CMSG_DATA(c), sizeof cred);
      out.sender = cred.pid;
      out.uid = cred.uid;
    } else if (c->cmsg_type == SCM_RIGHTS) {
      // FDSTORE=1 and the like: byed keeps no fds for a child; close them.
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int passed;
        memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
        close(passed);
      }
    }
  }
  return true;
}

namespace {

// The leader's uid: the owner of its /proc entry (its effective uid).
bool leader_uid(pid_t leader, uid_t* uid) {
  struct stat st {};
  if (stat(("/proc/" + std::to_string(leader)).c_str(), &st) != 0) return false;
  *uid = st.st_uid;
  return true;
}

enum class Walk { kInGeneration, kOutside, kGone, kLost };

// Follows the parent chain from pid up to the leader, byed, or init.
Walk walk_ancestry(pid_t pid, pid_t leader, pid_t self) {
  // A process being reaped still has its /proc entry for a moment, with
  // ppid 0: it is as good as gone.
  ProcStat st;
  if (!proc_stat(pid, &st) || st.ppid == 0) return Walk::kGone;
  pid_t pgid = st.pgid;
  for (int depth = 0; depth < 256; ++depth) {
    if (st.ppid == leader) return Walk::kInGeneration;
    if (st.ppid == self) {
      return pgid == leader ? Walk::kInGeneration : Walk::kOutside;
    }
    if (st.ppid == 1) return Walk::kOutside;
    // An ancestor that just went: the chain is being rewired (reparenting).
    if (!proc_stat(st.ppid, &st) || st.ppid == 0) return Walk::kLost;
  }
  return Walk::kOutside;
}

}  // namespace

bool sender_in_generation(const NotifyDatagram& d, pid_t leader, pid_t self,
                          uid_t self_uid) {
  if (d.sender <= 0 || leader <= 0) return false;
  uid_t luid = 0;
  if (d.uid != self_uid && !(leader_uid(leader, &luid) && d.uid == luid)) {
    return false;
  }
  if (d.sender == leader) return true;
  Walk w = walk_ancestry(d.sender, leader, self);
  if (w == Walk::kLost)
    w = walk_ancestry(d.sender, leader, self);  // reparented
  return w == Walk::kInGeneration || w == Walk::kGone;
}

}  // namespace byed
