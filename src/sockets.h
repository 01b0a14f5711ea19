// sockets.h — the listening sockets byed holds for its whole life.
//
// Adopts systemd's (LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES) and binds the
// --listen ones, before the first generation starts. byed never accepts on
// them and never closes its copy while running: a connection that arrives
// while no generation accepts waits in the backlog instead of being refused.
// spawn.cc places them at fds 3.. in every generation.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "fd.h"

namespace byed {

class SocketError : public std::runtime_error {
 public:
  SocketError(const std::string& what, int exit_code)
      : std::runtime_error(what), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }  // 2: bad input, 1: system

 private:
  int exit_code_;
};

// One --listen value: [NAME=]PORT | HOST:PORT | [V6]:PORT | unix:/path.
struct ListenAddress {
  enum class Kind { kTcp, kUnix };
  Kind kind = Kind::kTcp;
  std::string name;  // LISTEN_FDNAMES entry; empty: "unknown", as systemd
  std::string host;  // empty: every interface (dual-stack [::] where possible)
  uint16_t port = 0;
  std::string path;  // unix
  std::string text;  // as given, for messages
};

// Throws SocketError (exit 2) with a message naming what is wrong.
ListenAddress parse_listen(std::string_view text);

// The pure part of sd_listen_fds: how many fds (from 3) and their names,
// given the three variables and our pid. Returns 0 fds when LISTEN_PID is
// absent or not ours. Throws SocketError (exit 2) on malformed values.
struct ListenEnv {
  int count = 0;
  std::vector<std::string> names;  // count entries
};
ListenEnv parse_listen_env(const char* listen_fds, const char* listen_pid,
                           const char* listen_fdnames, pid_t self);

// A valid LISTEN_FDNAMES entry: 1..255 printable ASCII characters, no ':'.
bool valid_fd_name(std::string_view name);

struct HeldSocket {
  UniqueFd fd;
  std::string name;
  std::string address;  // "127.0.0.1:8080", "[::]:80", "unix:/run/x.sock"
  bool from_systemd = false;
  // For unix sockets byed bound: remove the file on exit if it is still ours.
  std::string unix_path;
  dev_t dev = 0;
  ino_t ino = 0;
};

// Adopts systemd's sockets (fds 3.. per LISTEN_*), checks each is a socket
// (SocketError exit 2 naming the fd otherwise), marks them close-on-exec.
std::vector<HeldSocket> adopt_systemd_sockets(const ListenEnv& env);

// Binds and listens (SO_REUSEADDR, backlog SOMAXCONN). A stale unix socket
// file is replaced only when nothing accepts connections on it. Throws
// SocketError (exit 1) like "listen 127.0.0.1:80: Permission denied".
HeldSocket bind_listen(const ListenAddress& addr);

// Creates a unix socket bound at path (type SOCK_STREAM or SOCK_DGRAM). A
// stale socket file is replaced only when a connect to it is refused; a
// live one, or a path that is not a socket, is an error. mode != 0: the file
// is created with exactly that mode (no window with a wider one). Throws
// SocketError prefixed with `what`.
UniqueFd bind_unix_socket(const std::string& path, const std::string& what,
                          int type, mode_t mode);

// True when an adopted socket already serves this --listen address (same
// kind, same port, and the same host or a wildcard one): the bye rule.
bool socket_serves(const HeldSocket& held, const ListenAddress& addr);

// The address a socket is bound to, as shown to operators.
std::string describe_socket(int fd);

// All of it: adopted sockets first, then each --listen not already served,
// in the order given. What byed holds and passes to every generation.
std::vector<HeldSocket> open_sockets(const ListenEnv& env,
                                     const std::vector<ListenAddress>& listen);

// Removes unix socket files byed created, if they are still the ones it made.
void unlink_bound_sockets(const std::vector<HeldSocket>& sockets);

}  // namespace byed
