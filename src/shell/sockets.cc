#include "sockets.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>

#include "sys_error.h"

namespace byed {
namespace {

// sockaddr for a TCP listen address; host empty -> [::] (or 0.0.0.0).
struct Resolved {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
};

bool resolve(const ListenAddress& a, Resolved& out, bool ipv6_any) {
  if (a.host.empty()) {
    if (ipv6_any) {
      auto* s6 = reinterpret_cast<sockaddr_in6*>(&out.ss);
      s6->sin6_family = AF_INET6;
      s6->sin6_addr = in6addr_any;
      s6->sin6_port = htons(a.port);
      out.len = sizeof *s6;
      out.family = AF_INET6;
    } else {
      auto* s4 = reinterpret_cast<sockaddr_in*>(&out.ss);
      s4->sin_family = AF_INET;
      s4->sin_addr.s_addr = htonl(INADDR_ANY);
      s4->sin_port = htons(a.port);
      out.len = sizeof *s4;
      out.family = AF_INET;
    }
    return true;
  }
  // Literals only (parse_listen checked them): no resolver, no NSS, nothing
  // that blocks or that a static binary cannot do.
  std::string host = a.host == "localhost" ? "127.0.0.1" : a.host;
  auto* s4 = reinterpret_cast<sockaddr_in*>(&out.ss);
  auto* s6 = reinterpret_cast<sockaddr_in6*>(&out.ss);
  if (inet_pton(AF_INET, host.c_str(), &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(a.port);
    out.len = sizeof *s4;
    out.family = AF_INET;
  } else if (inet_pton(AF_INET6, host.c_str(), &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(a.port);
    out.len = sizeof *s6;
    out.family = AF_INET6;
  } else {
    return false;
  }
  return true;
}

uint16_t port_of(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in&>(ss).sin_port);
  }
  if (ss.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6&>(ss).sin6_port);
  }
  return 0;
}

bool is_wildcard(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET) {
    return reinterpret_cast<const sockaddr_in&>(ss).sin_addr.s_addr ==
           htonl(INADDR_ANY);
  }
  if (ss.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr;
    return IN6_IS_ADDR_UNSPECIFIED(&a);
  }
  return false;
}

bool same_ip(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET) {
    return reinterpret_cast<const sockaddr_in&>(a).sin_addr.s_addr ==
           reinterpret_cast<const sockaddr_in&>(b).sin_addr.s_addr;
  }
  if (a.ss_family == AF_INET6) {
    return memcmp(&reinterpret_cast<const sockaddr_in6&>(a).sin6_addr,
                  &reinterpret_cast<const sockaddr_in6&>(b).sin6_addr,
                  sizeof(in6_addr)) == 0;
  }
  return false;
}

std::string describe_sockaddr(const sockaddr_storage& ss, socklen_t len) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET) {
    const auto& s4 = reinterpret_cast<const sockaddr_in&>(ss);
    inet_ntop(AF_INET, &s4.sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(ntohs(s4.sin_port));
  }
  if (ss.ss_family == AF_INET6) {
    const auto& s6 = reinterpret_cast<const sockaddr_in6&>(ss);
    inet_ntop(AF_INET6, &s6.sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(s6.sin6_port));
  }
  if (ss.ss_family == AF_UNIX) {
    const auto& su = reinterpret_cast<const sockaddr_un&>(ss);
    size_t n = len > offsetof(sockaddr_un, sun_path)
                   ? len - offsetof(sockaddr_un, sun_path)
                   : 0;
    if (n > 0 && su.sun_path[0] == '\0') {
      return "unix:@" + std::string(su.sun_path + 1, n - 1);
    }
    return "unix:" + std::string(su.sun_path, strnlen(su.sun_path, n));
  }
  return "family " + std::to_string(ss.ss_family);
}

}  // namespace

bool bind_unix_socket(const std::string& path, const std::string& what,
                      int type, mode_t mode, int backlog, UniqueFd* out,
                      std::string* err) {
  sockaddr_un su{};
  su.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof su.sun_path) {
    *err = what + ": path too long or empty";
    return false;
  }
  memcpy(su.sun_path, path.data(), path.size());
  UniqueFd fd(socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  if (!fd) return fail(err, sys_error(what));

  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      *err = what + ": the path exists and is not a socket";
      return false;
    }
    // Stale or live? Only a refused connect proves nobody listens.
    UniqueFd probe(socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
    if (!probe) return fail(err, sys_error(what));
    if (connect(probe.get(), reinterpret_cast<sockaddr*>(&su), sizeof su) ==
        0) {
      *err = what + ": Address already in use (a process listens on it)";
      return false;
    }
    if (errno != ECONNREFUSED) return fail(err, sys_error(what + ": probe"));
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      return fail(err, sys_error(what + ": remove stale socket"));
    }
  }
  // With a backlog the socket appears at `path` only once it listens:
  // bound under a name of its own in the same directory, then renamed into
  // place, so a client never finds the path and is refused (ECONNREFUSED)
  // in between. (Its getsockname() keeps the first name: not for sockets
  // handed to programs.)
  const std::string temp = path + ".byed-" + std::to_string(getpid());
  const bool publish = backlog > 0 && temp.size() < sizeof su.sun_path;
  sockaddr_un at = su;
  if (publish) {
    memcpy(at.sun_path, temp.c_str(), temp.size() + 1);
    unlink(temp.c_str());  // left by a byed with this pid that crashed
  }
  // The file gets its mode at bind time, through the umask: there is no
  // moment at which it exists with a wider mode. byed is single-threaded
  // here, so the process-wide umask change is safe.
  mode_t old = mode != 0 ? umask(~mode & 0777) : 0;
  int rc = bind(fd.get(), reinterpret_cast<sockaddr*>(&at), sizeof at);
  int e = errno;
  if (mode != 0) umask(old);
  if (rc != 0) return fail(err, sys_error(what, e));
  if (publish) {
    if (::listen(fd.get(), backlog) != 0 ||
        rename(temp.c_str(), path.c_str()) != 0) {
      e = errno;
      unlink(temp.c_str());
      return fail(err, sys_error(what, e));
    }
  }
  *out = std::move(fd);
  return true;
}

void OwnedPath::remember(const std::string& p) {
  struct stat st {};
  if (lstat(p.c_str(), &st) != 0) return;
  path = p;
  dev = st.st_dev;
  ino = st.st_ino;
}

void OwnedPath::unlink_if_ours() const {
  if (path.empty()) return;
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0 && st.st_dev == dev && st.st_ino == ino) {
    unlink(path.c_str());
  }
}

std::string describe_socket(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return "?";
  }
  return describe_sockaddr(ss, len);
}

bool adopt_systemd_sockets(const ListenEnv& env, std::vector<HeldSocket>* out,
                           std::string* err) {
  for (int i = 0; i < env.count; ++i) {
    int fd = 3 + i;
    struct stat st {};
    const char* wrong = nullptr;
    if (fstat(fd, &st) != 0) {
      wrong = "is not open";
    } else if (!S_ISSOCK(st.st_mode)) {
      wrong = "is not a socket";
    }
    if (wrong != nullptr) {
      *err = "LISTEN_FDS=" + std::to_string(env.count) + ": fd " +
             std::to_string(fd) + " " + wrong;
      return false;
    }
    // Passed on explicitly, never leaked.
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
      return fail(err, sys_error("LISTEN_FDS: fd " + std::to_string(fd) +
                                 ": close-on-exec"));
    }
    HeldSocket h;
    h.fd = UniqueFd(fd);
    h.name = env.names[static_cast<size_t>(i)];
    h.address = describe_socket(fd);
    h.from_systemd = true;
    out->push_back(std::move(h));
  }
  return true;
}

bool bind_listen(const ListenAddress& a, HeldSocket* out, std::string* err) {
  HeldSocket h;
  h.name = a.name.empty() ? "unknown" : a.name;
  std::string what = "listen " + a.text;
  if (a.kind == ListenAddress::Kind::kUnix) {
    if (!bind_unix_socket(a.path, what, SOCK_STREAM, 0, 0, &h.fd, err)) {
      return false;
    }
    h.unix_file.remember(a.path);
  } else {
    Resolved r;
    bool dual = a.host.empty();
    if (!resolve(a, r, dual)) {
      *err = what + ": not an IP address";
      return false;
    }
    h.fd = UniqueFd(socket(r.family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!h.fd && dual && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT)) {
      resolve(a, r, false);  // no IPv6 here: all IPv4 interfaces
      h.fd = UniqueFd(socket(r.family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    }
    if (!h.fd) return fail(err, sys_error(what));
    int one = 1, zero = 0;
    if (setsockopt(h.fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) !=
        0) {
      return fail(err, sys_error(what + ": SO_REUSEADDR"));
    }
    if (r.family == AF_INET6 && dual &&
        setsockopt(h.fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) !=
            0) {
      return fail(err, sys_error(what + ": IPV6_V6ONLY"));
    }
    if (bind(h.fd.get(), reinterpret_cast<sockaddr*>(&r.ss), r.len) != 0) {
      return fail(err, sys_error("listen " + describe_sockaddr(r.ss, r.len)));
    }
  }
  if (listen(h.fd.get(), SOMAXCONN) != 0) return fail(err, sys_error(what));
  h.address = describe_socket(h.fd.get());
  *out = std::move(h);
  return true;
}

bool socket_serves(const HeldSocket& held, const ListenAddress& a) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(held.fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return false;
  }
  if (a.kind == ListenAddress::Kind::kUnix) {
    return ss.ss_family == AF_UNIX &&
           describe_sockaddr(ss, len) == "unix:" + a.path;
  }
  if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) return false;
  if (port_of(ss) != a.port || a.port == 0) return false;
  if (a.host.empty() || is_wildcard(ss)) return true;
  Resolved r;
  return resolve(a, r, false) && same_ip(ss, r.ss);
}

bool bind_listen_sockets(const std::vector<ListenAddress>& listen,
                         std::vector<HeldSocket>* held, std::string* err) {
  size_t adopted = held->size();
  for (const auto& a : listen) {
    bool served = false;
    for (size_t i = 0; i < adopted && !served; ++i) {
      served = socket_serves((*held)[i], a);
    }
    if (served) continue;
    HeldSocket h;
    if (!bind_listen(a, &h, err)) return false;
    held->push_back(std::move(h));
  }
  return true;
}

void unlink_bound_sockets(const std::vector<HeldSocket>& sockets) {
  for (const auto& s : sockets) s.unix_file.unlink_if_ours();
}

}  // namespace byed
