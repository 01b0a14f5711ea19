// notify.h — systemd's notify protocol, both ways.
//
// Upstream: byed's own NOTIFY_SOCKET (from systemd), to which it reports
// READY=1, RELOADING=1, STOPPING=1 and STATUS= for the whole service.
//
// Downstream: each generation gets its own datagram socket, bound to a fresh
// abstract address with a random part, and sees it as NOTIFY_SOCKET. A
// message counts only if it arrives on that generation's socket and the
// credentials the kernel attached when it was sent (SO_PASSCRED) show a
// process of that generation: see sender_in_generation. What a message
// says is the core's to read (notify_message.h).
#pragma once

#include <sys/types.h>

#include <string>

#include "fd.h"

namespace byed {

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
  uid_t uid = 0;     // the sender's, as the kernel saw it at send time
};
// Reads one datagram; false when none is waiting.
bool receive_notify(int fd, NotifyDatagram& out);

// The trust rule. A datagram counts for the generation led by `leader`
// (started by byed, `self`, whose uid is `self_uid`) when, by the kernel's
// credentials from send time:
//  - its uid is byed's or the leader's, and
//  - its pid is the leader, or a process that descends from the leader, or
//    one that descends from byed and sits in the leader's process group (a
//    member whose parent died and which byed adopted), or
//  - its pid is gone by the time byed reads it (a `systemd-notify --ready`
//    that exited at once): where a gone process stood can no longer be
//    asked, and the uid, checked at send time, is what is left to go by.
// A live process that does not descend from the generation — another
// program, or one that joined the generation's process group from outside —
// never counts.
bool sender_in_generation(const NotifyDatagram& d, pid_t leader, pid_t self,
                          uid_t self_uid);

}  // namespace byed
