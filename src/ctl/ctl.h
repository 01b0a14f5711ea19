// ctl.h — `byed ctl`, the control socket's client: its command line, one
// request, the reply printed (a table, or the raw JSON with --json).
// main.cc hands it every `byed ctl ...` command line.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "fd.h"

namespace byed {

// byed ctl [--control PATH] [--json] [--timeout DUR] status|upgrade|stop,
// with argv[0] = "ctl". Returns the exit code: 0 done, 1 failed, 2 usage.
int ctl_main(int argc, char** argv);

// The socket `byed ctl` talks to: --control, else $BYED_CONTROL, else
// $RUNTIME_DIRECTORY/byed.sock. Empty when none is known.
std::string find_control_path(const std::string& flag);

// Sends one request ({"cmd": ...}; the version is added) and reads one
// reply line, waiting at most `timeout`.
// Fills *reply, or fails with a one-line reason. With fd_out, the
// connection is kept there (for `stop`, to wait for EOF).
bool control_call(const std::string& path, const nlohmann::json& request,
                  std::chrono::milliseconds timeout, nlohmann::json* reply,
                  std::string* err, UniqueFd* fd_out = nullptr);

// Waits until the peer closes the connection (byed exited) or timeout.
bool wait_closed(int fd, std::chrono::milliseconds timeout);

// The text table `byed ctl status` prints.
std::string format_status(const nlohmann::json& status);

}  // namespace byed
