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
#include <charconv>

namespace byed {
namespace {

[[noreturn]] void bad(std::string_view text, const std::string& why) {
  throw SocketError("--listen '" + std::string(text) + "': " + why, 2);
}

[[noreturn]] void sys(const std::string& what, int err) {
  throw SocketError(what + ": " + strerror(err), 1);
}

std::optional<long> parse_number(std::string_view s) {
  long v = 0;
  if (s.empty() || s.size() > 18) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

uint16_t parse_port(std::string_view whole, std::string_view s) {
  auto v = parse_number(s);
  if (!v || *v < 0 || *v > 65535) bad(whole, "port must be 0..65535");
  return static_cast<uint16_t>(*v);
}

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

UniqueFd bind_unix_socket(const std::string& path, const std::string& what,
                          int type, mode_t mode) {
  sockaddr_un su{};
  su.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof su.sun_path) {
    throw SocketError(what + ": path too long or empty", 2);
  }
  memcpy(su.sun_path, path.data(), path.size());
  UniqueFd fd(socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  if (!fd) sys(what, errno);

  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      throw SocketError(what + ": the path exists and is not a socket", 1);
    }
    // Stale or live? Only a refused connect proves nobody listens.
    UniqueFd probe(socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
    if (!probe) sys(what, errno);
    if (connect(probe.get(), reinterpret_cast<sockaddr*>(&su), sizeof su) ==
        0) {
      throw SocketError(
          what + ": Address already in use (a process listens on it)", 1);
    }
    if (errno != ECONNREFUSED) sys(what + ": probe", errno);
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      sys(what + ": remove stale socket", errno);
    }
  }
  // The file gets its mode at bind time, through the umask: there is no
  // moment at which it exists with a wider mode. byed is single-threaded
  // here, so the process-wide umask change is safe.
  mode_t old = mode != 0 ? umask(~mode & 0777) : 0;
  int rc = bind(fd.get(), reinterpret_cast<sockaddr*>(&su), sizeof su);
  int e = errno;
  if (mode != 0) umask(old);
  if (rc != 0) sys(what, e);
  return fd;
}

bool valid_fd_name(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  for (unsigned char c : name) {
    if (c < 0x21 || c > 0x7e || c == ':') return false;
  }
  return true;
}

ListenAddress parse_listen(std::string_view text) {
  ListenAddress a;
  a.text = std::string(text);
  std::string_view rest = text;
  // NAME= prefix: only if what precedes '=' has no ':' '[' or '/'.
  size_t eq = rest.find('=');
  if (eq != std::string_view::npos &&
      rest.substr(0, eq).find_first_of(":[/") == std::string_view::npos) {
    a.name = std::string(rest.substr(0, eq));
    if (!valid_fd_name(a.name)) {
      bad(text, "name must be 1-255 printable characters without ':'");
    }
    rest.remove_prefix(eq + 1);
  }
  if (rest.empty()) bad(text, "no address");
  if (rest.substr(0, 5) == "unix:") {
    a.kind = ListenAddress::Kind::kUnix;
    a.path = std::string(rest.substr(5));
    if (a.path.empty() || a.path[0] != '/') {
      bad(text, "unix socket path must be absolute");
    }
    if (a.path.size() >= sizeof(sockaddr_un::sun_path)) {
      bad(text, "unix socket path too long");
    }
    if (a.path.find('\0') != std::string::npos) bad(text, "NUL in path");
    return a;
  }
  if (rest[0] == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() ||
        rest[close + 1] != ':') {
      bad(text, "expected [V6ADDR]:PORT");
    }
    a.host = std::string(rest.substr(1, close - 1));
    in6_addr tmp{};
    if (inet_pton(AF_INET6, a.host.c_str(), &tmp) != 1) {
      bad(text, "'" + a.host + "' is not an IPv6 address");
    }
    a.port = parse_port(text, rest.substr(close + 2));
    return a;
  }
  size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) {
    a.port = parse_port(text, rest);
    return a;
  }
  a.host = std::string(rest.substr(0, colon));
  if (a.host.empty() || a.host.find(':') != std::string::npos) {
    bad(text, "expected HOST:PORT (write IPv6 as [ADDR]:PORT)");
  }
  in_addr tmp{};
  if (a.host != "localhost" && inet_pton(AF_INET, a.host.c_str(), &tmp) != 1) {
    bad(text, "'" + a.host +
                  "' is not an IPv4 address (byed takes IP literals or "
                  "localhost, and resolves no names)");
  }
  a.port = parse_port(text, rest.substr(colon + 1));
  return a;
}

ListenEnv parse_listen_env(const char* listen_fds, const char* listen_pid,
                           const char* listen_fdnames, pid_t self) {
  ListenEnv env;
  if (listen_fds == nullptr || listen_pid == nullptr) return env;
  auto pid = parse_number(listen_pid);
  if (!pid || *pid != self) return env;  // meant for another process
  auto n = parse_number(listen_fds);
  if (!n || *n < 0 || *n > 4096) {
    throw SocketError(
        "LISTEN_FDS='" + std::string(listen_fds) + "': not a count of fds", 2);
  }
  env.count = static_cast<int>(*n);
  std::string names = listen_fdnames ? listen_fdnames : "";
  size_t start = 0;
  for (int i = 0; i < env.count; ++i) {
    std::string name = "unknown";
    if (listen_fdnames != nullptr && start <= names.size()) {
      size_t colon = names.find(':', start);
      std::string part =
          names.substr(start, colon == std::string::npos ? std::string::npos
                                                         : colon - start);
      if (valid_fd_name(part)) name = part;
      start = colon == std::string::npos ? names.size() + 1 : colon + 1;
    }
    env.names.push_back(name);
  }
  return env;
}

std::string describe_socket(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return "?";
  }
  return describe_sockaddr(ss, len);
}

std::vector<HeldSocket> adopt_systemd_sockets(const ListenEnv& env) {
  std::vector<HeldSocket> out;
  for (int i = 0; i < env.count; ++i) {
    int fd = 3 + i;
    struct stat st {};
    if (fstat(fd, &st) != 0) {
      throw SocketError("LISTEN_FDS=" + std::to_string(env.count) + ": fd " +
                            std::to_string(fd) + " is not open",
                        2);
    }
    if (!S_ISSOCK(st.st_mode)) {
      throw SocketError("LISTEN_FDS=" + std::to_string(env.count) + ": fd " +
                            std::to_string(fd) + " is not a socket",
                        2);
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);  // passed on explicitly, never leaked
    HeldSocket h;
    h.fd = UniqueFd(fd);
    h.name = env.names[i];
    h.address = describe_socket(fd);
    h.from_systemd = true;
    out.push_back(std::move(h));
  }
  return out;
}

HeldSocket bind_listen(const ListenAddress& a) {
  HeldSocket h;
  h.name = a.name.empty() ? "unknown" : a.name;
  if (a.kind == ListenAddress::Kind::kUnix) {
    h.fd = bind_unix_socket(a.path, "listen " + a.text, SOCK_STREAM, 0);
    h.unix_path = a.path;
    struct stat st {};
    if (stat(a.path.c_str(), &st) == 0) {
      h.dev = st.st_dev;
      h.ino = st.st_ino;
    }
  } else {
    Resolved r;
    bool dual = a.host.empty();
    if (!resolve(a, r, dual)) bad(a.text, "not an IP address");
    h.fd = UniqueFd(socket(r.family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!h.fd && dual && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT)) {
      resolve(a, r, false);  // no IPv6 here: all IPv4 interfaces
      h.fd = UniqueFd(socket(r.family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    }
    if (!h.fd) sys("listen " + a.text, errno);
    int one = 1, zero = 0;
    setsockopt(h.fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (r.family == AF_INET6 && dual) {
      setsockopt(h.fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    }
    if (bind(h.fd.get(), reinterpret_cast<sockaddr*>(&r.ss), r.len) != 0) {
      sys("listen " + describe_sockaddr(r.ss, r.len), errno);
    }
  }
  if (listen(h.fd.get(), SOMAXCONN) != 0) sys("listen " + a.text, errno);
  h.address = describe_socket(h.fd.get());
  return h;
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

std::vector<HeldSocket> open_sockets(const ListenEnv& env,
                                     const std::vector<ListenAddress>& listen) {
  std::vector<HeldSocket> held = adopt_systemd_sockets(env);
  size_t adopted = held.size();
  for (const auto& a : listen) {
    bool served = false;
    for (size_t i = 0; i < adopted && !served; ++i) {
      served = socket_serves(held[i], a);
    }
    if (!served) held.push_back(bind_listen(a));
  }
  return held;
}

void unlink_bound_sockets(const std::vector<HeldSocket>& sockets) {
  for (const auto& s : sockets) {
    if (s.unix_path.empty()) continue;
    struct stat st {};
    if (lstat(s.unix_path.c_str(), &st) == 0 && st.st_dev == s.dev &&
        st.st_ino == s.ino) {
      unlink(s.unix_path.c_str());
    }
  }
}

}  // namespace byed
