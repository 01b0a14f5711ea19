// config.h — what byed was asked to do, and the parsers for its values.
//
// Config is filled by main.cc from the command line and the environment and
// then only read. The parsers here are pure (no I/O) so they can be unit
// tested and fuzzed; each returns nullopt or throws ConfigError with a
// message fit for a one-line usage error.
#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "log.h"
#include "sockets.h"

namespace byed {

using Millis = std::chrono::milliseconds;

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "250ms", "2s", "1m", "1m30s", "0". A bare number other than 0 is rejected:
// the unit is the one thing an operator must not have to guess.
std::optional<Millis> parse_duration(std::string_view text);

// "1m30s" style rendering for logs and status.
std::string format_duration(Millis d);

// --ready: auto (1 s alive, until some generation has sent a message),
// message (a pipe byte or READY=1 only), or a duration alive.
enum class ReadyMode { kAuto, kMessage, kDelay };

struct Config {
  std::vector<std::string> command;  // PROGRAM ARGS...

  Millis stop_timeout{30000};  // 0: never SIGKILL
  int upgrade_signal = 0;      // set by main (SIGUSR1 by default)
  int drain_signal = 15;       // sent to a replaced generation (SIGTERM)
  ReadyMode ready_mode = ReadyMode::kAuto;
  Millis ready_delay{1000};
  Millis ready_timeout{60000};
  std::string pidfile;    // --pidfile / PIDFILE; empty: none
  std::string control;    // --control / BYED_CONTROL; empty: none
  bool subreaper = true;  // PR_SET_CHILD_SUBREAPER when not PID 1

  LogFormat log_format = LogFormat::kText;
  LogLevel log_level = LogLevel::kInfo;
  std::string name;  // member name, log tag; default basename(PROGRAM)

  std::vector<ListenAddress> listen;  // --listen / BYED_LISTEN, in order

  std::string exit_dir;       // --exit-dir / EXIT_DIR; empty: none
  bool exit_leader = true;    // --exit-role leader: write NAME.exit
  bool exit_follower = true;  // --exit-role follower: stop on an entry
};

// "auto", "message" or a duration. Throws ConfigError.
void parse_ready(std::string_view text, Config& config);

// "leader", "follower", "leader,follower" (either order). Throws ConfigError.
void parse_exit_role(std::string_view text, Config& config);

// Checks what the parsers cannot see alone (e.g. an upgrade signal that is
// also a stop signal). Throws ConfigError.
void validate(const Config& config);

// basename of argv[0] of the command, for the default --name.
std::string default_name(const std::vector<std::string>& command);

}  // namespace byed
