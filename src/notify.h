// notify.h — systemd's notify protocol, both ways.
//
// Upstream: byed's own NOTIFY_SOCKET (from systemd), to which it reports
// READY=1, RELOADING=1, STOPPING=1 and STATUS= for the whole service.
//
// Downstream: each generation gets its own datagram socket, bound to a fresh
// abstract address with a random part, and sees it as NOTIFY_SOCKET. A
// message counts only if it arrives on that generation's socket and the
// kernel-verified sender (SO_PASSCRED) is the generation's process or a
// member of its process group: other generations and other senders do not.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <string_view>

#include "fd.h"

namespace byed {

// "READY=1\nSTATUS=x" -> {READY: 1, STATUS: x}. Lines without '=' are
// skipped; a later key wins. Pure.
std::map<std::string, std::string> parse_notify(std::string_view datagram);

// Sends one datagram to a NOTIFY_SOCKET address ("/path" or "@abstract").
bool send_notify(const std::string& address, const std::string& state,
                 std::string* err);

// A generation's listening end.
struct NotifyEndpoint {
  UniqueFd fd;          // bound, SO_PASSCRED, non-blocking, close-on-exec
  std::string address;  // "@byed/<pid>/<gen>/<random>", for NOTIFY_SOCKET
};
// Fails when the socket cannot be made, bound, or told to pass credentials
// (without credentials no message could ever be trusted).
bool open_notify_endpoint(int gen, NotifyEndpoint* out, std::string* err);

struct NotifyDatagram {
  std::string text;
  pid_t sender = 0;  // 0: no credentials came with it
};
// Reads one datagram; false when none is waiting.
bool receive_notify(int fd, NotifyDatagram& out);

// True when pid is `leader` or in the process group `leader` leads.
bool sender_in_generation(pid_t pid, pid_t leader);

}  // namespace byed
