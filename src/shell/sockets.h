// sockets.h — the listening sockets byed holds for its whole life.
//
// Adopts systemd's (LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES) and binds the
// --listen ones, before the first generation starts. byed never accepts on
// them and never closes its copy while running: a connection that arrives
// while no generation accepts waits in the backlog instead of being refused.
// spawn.cc places them at fds 3.. in every generation. The grammar of the
// addresses and variables is config.h's.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "config.h"
#include "fd.h"

namespace byed {

// A file byed created (a unix socket's), remembered by device and inode so
// that byed removes it only while it is still the one it made.
struct OwnedPath {
  std::string path;
  dev_t dev = 0;
  ino_t ino = 0;
  // Records what is at p now.
  void remember(const std::string& p);
  void unlink_if_ours() const;
};

struct HeldSocket {
  UniqueFd fd;
  std::string name;
  std::string address;  // "127.0.0.1:8080", "[::]:80", "unix:/run/x.sock"
  bool from_systemd = false;
  OwnedPath unix_file;  // for unix sockets byed bound: removed on exit
};

// Adopts systemd's sockets (fds 3.. per LISTEN_*), checks each is a socket,
// marks them close-on-exec. Fails (bad input: exit 2) naming the fd.
bool adopt_systemd_sockets(const ListenEnv& env, std::vector<HeldSocket>* out,
                           std::string* err);

// Binds and listens (SO_REUSEADDR, backlog SOMAXCONN). A stale unix socket
// file is replaced only when nothing accepts connections on it. Fails like
// "listen 127.0.0.1:80: Permission denied".
bool bind_listen(const ListenAddress& addr, HeldSocket* out, std::string* err);

// Binds each --listen address that no adopted socket in *held already serves
// (bye's rule), appending them in the order given.
bool bind_listen_sockets(const std::vector<ListenAddress>& listen,
                         std::vector<HeldSocket>* held, std::string* err);

// Creates a unix socket bound at path (type SOCK_STREAM or SOCK_DGRAM;
// backlog > 0: a stream socket that listens before it appears at path). A
// stale socket file is replaced only when a connect to it is refused; a
// live one, or a path that is not a socket, is an error. mode != 0: the file
// is created with exactly that mode (no window with a wider one). Messages
// are prefixed with `what`.
bool bind_unix_socket(const std::string& path, const std::string& what,
                      int type, mode_t mode, int backlog, UniqueFd* out,
                      std::string* err);

// True when an adopted socket already serves this --listen address (same
// kind, same port, and the same host or a wildcard one): the bye rule.
bool socket_serves(const HeldSocket& held, const ListenAddress& addr);

// The address a socket is bound to, as shown to operators.
std::string describe_socket(int fd);

// Removes unix socket files byed created, if they are still the ones it made.
void unlink_bound_sockets(const std::vector<HeldSocket>& sockets);

}  // namespace byed
