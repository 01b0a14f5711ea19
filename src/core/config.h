// config.h — what byed was asked to do, and the grammar of every value.
//
// Config is filled by main.cc from the command line and the environment and
// then only read. Everything here is pure (no I/O, no syscalls), so it is
// unit tested and fuzzed: durations, --ready, --exit-role, --listen
// addresses, the LISTEN_* variables, and the checks across options.
//
// Error convention (all of byed): a function that can fail for a reason
// worth telling returns bool and fills `std::string* err` with a one-line
// message; a value parser with a single way to fail returns std::optional.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "child_log.h"
#include "log_record.h"

namespace byed {

using Millis = std::chrono::milliseconds;

// "250ms", "2s", "1m", "1m30s", "0". A bare number other than 0 is rejected:
// the unit is the one thing an operator must not have to guess.
std::optional<Millis> parse_duration(std::string_view text);

// "1m30s" style rendering for logs and status.
std::string format_duration(Millis d);

// --ready (repeatable): the rules a starting generation must all meet
// before it counts as ready. "auto" (the default, alone) is decided per
// generation by the core: accepting where byed holds sockets (plus a message
// once the program has shown it speaks a protocol), else a message once one
// was ever sent, else alive 1 s.
struct ReadyRules {
  bool automatic = true;  // "auto", or nothing given
  bool message = false;   // a byte on UPGRADE_FD or READY=1
  bool accepting = false;
  std::vector<std::string> accepting_names;  // empty: every held socket
  Millis alive{0};                           // > 0: alive this long
  std::vector<std::string> exec;             // `sh -c CMD` exits 0
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

// What systemd passed: how many fds (from 3) and their names.
struct ListenEnv {
  int count = 0;
  std::vector<std::string> names;  // count entries
};

// --restart: when the serving generation ends without a stop request.
enum class RestartPolicy { kNo, kOnFailure, kAlways };

struct Config {
  std::vector<std::string> command;  // PROGRAM ARGS...

  Millis stop_timeout{30000};  // 0: never SIGKILL
  int upgrade_signal = 10;     // SIGUSR1; 0: none (ctl only)
  int drain_signal = 15;       // sent to a replaced generation (SIGTERM)
  ReadyRules ready;
  Millis ready_timeout{60000};
  // --ready-settle: an upgrade's new generation must stay ready this long
  // before the old one is drained; unset: 1 s with auto, else 0.
  std::optional<Millis> ready_settle;
  Millis ready_interval{250};  // between two exec: probes
  std::string health;          // --health exec:CMD's CMD; empty: none
  Millis health_interval{10000};
  int health_failures = 3;  // failed probes in a row that make it hung
  Millis stop_delay{0};     // keep serving this long after a stop signal
  std::string ready_dir;    // --ready-dir: leave NAME.ready there
  std::vector<std::string> wait_for;  // --wait-for: NAME.ready entries
  Millis wait_for_timeout{0};         // 0: wait as long as it takes
  // The held sockets' names, in child fd order (filled once they are
  // open): what accepting waits on.
  std::vector<std::string> held_sockets;
  // --rewrite FROM:TO: what a received signal is forwarded as; TO 0: drop.
  std::vector<std::pair<int, int>> rewrite;
  bool forward_to_group = false;    // --forward-to group
  std::vector<int> success_status;  // --success-status: exit 0 for these
  int parent_death_signal = 0;      // --parent-death-signal: for byed
  std::string pidfile;              // --pidfile / PIDFILE; empty: none
  std::string control;              // --control / BYED_CONTROL; empty: none
  bool subreaper = true;            // PR_SET_CHILD_SUBREAPER when not PID 1

  LogFormat log_format = LogFormat::kText;
  // --log-child: the child's stdout/stderr inherited (raw) or read by byed
  // and written as lines (child_log.h).
  ChildLogMode log_child = ChildLogMode::kRaw;
  LogLevel log_level = LogLevel::kInfo;
  std::string name;  // member name, log tag; default basename(PROGRAM)

  std::vector<ListenAddress> listen;  // --listen / BYED_LISTEN, in order

  // --workers: processes per generation, each its own group with
  // BYED_WORKER=i; 0: the option not given (one process, no BYED_WORKER);
  // kWorkersAuto until resolved.
  int workers = 0;
  int upgrade_batch = 0;  // --upgrade-batch: workers per step; 0: all at once

  RestartPolicy restart = RestartPolicy::kNo;  // --restart / BYED_RESTART
  Millis restart_delay{100};           // first back-off; doubles per restart
  Millis restart_delay_max{10000};     // back-off cap
  Millis restart_stable{1000};         // ready this long: no crash loop, reset
  int restart_burst = 5;               // --restart-limit N/INTERVAL: at most N
  Millis restart_interval{60000};      // restarts within INTERVAL, else give up
  Millis watchdog{0};                  // --watchdog: silent this long = hung
  uint64_t systemd_watchdog_usec = 0;  // WATCHDOG_USEC meant for byed

  std::string exit_dir;       // --exit-dir / EXIT_DIR; empty: none
  bool exit_leader = true;    // --exit-role leader: write NAME.exit
  bool exit_follower = true;  // --exit-role follower: stop on an entry

  // What byed made of tini's and dumb-init's variables (TINI_VERBOSITY=3:
  // -v), one line each; main.cc logs them at debug once the logger exists.
  std::vector<std::string> notes;

  // What the core derives, in one place.
  bool leader() const { return !exit_dir.empty() && exit_leader; }
  bool follower() const { return !exit_dir.empty() && exit_follower; }
};

// The grammar of the plain values, for an option named `flag` in messages
// ("--stop-timeout '5': not a duration (use e.g. 500ms, 30s, 2m, or 0)").
bool parse_duration_option(std::string_view flag, std::string_view text,
                           Millis* out, std::string* err);
// A catchable signal: a name with or without SIG, or a number.
bool parse_signal_option(std::string_view flag, std::string_view text, int* out,
                         std::string* err);
// A whole number >= 0.
bool parse_count_option(std::string_view flag, std::string_view text, int* out,
                        std::string* err);

// --upgrade-signal: a catchable signal, or "none" / "0": upgrades only
// through `byed ctl upgrade`, every signal forwarded.
bool parse_upgrade_signal(std::string_view text, Config* config,
                          std::string* err);

// --wait-for NAME,...: appends each non-empty NAME.
bool parse_wait_for(std::string_view text, Config* config, std::string* err);

// --log-format: "text" or "json".
bool parse_log_format(std::string_view text, Config* config, std::string* err);

// --log-child: "raw", "tag", "json", "journal" or "auto".
bool parse_log_child(std::string_view text, Config* config, std::string* err);

// An on/off variable such as BYED_QUIET: 1, true, yes, on or 0, false, no,
// off; anything else is an error that names the variable.
bool parse_switch(std::string_view name, std::string_view text, bool* out,
                  std::string* err);

// A comma-separated list as the BYED_* variables hold them: "a,,b" ->
// {"a", "b"}; empty fields are dropped.
std::vector<std::string> split_list(std::string_view text);

// One --ready rule: "auto", "message", "accepting", "accepting:NAME,...",
// "exec:CMD" or a duration. Adds to config->ready; "auto" only alone.
bool parse_ready(std::string_view text, Config* config, std::string* err);

// --workers: a count of at least 1, or "auto" (kWorkersAuto until the
// shell knows how many CPUs byed may run on: resolve_workers).
constexpr int kWorkersAuto = -1;
bool parse_workers(std::string_view text, Config* config, std::string* err);
// The number of workers to run: --workers, with auto as `cpus` (at least 1).
int resolve_workers(int workers, int cpus);

// --health: "exec:CMD".
bool parse_health(std::string_view text, Config* config, std::string* err);

// The settle window in force: --ready-settle, else 1 s under auto, else 0.
Millis ready_settle(const Config& config);

// "TERM:QUIT", "15:3", "USR2:none" (or ":0": dropped), "TSTP:STOP",
// "TERM:KILL". FROM must be a signal byed catches (never KILL, STOP, a
// fault or PIPE); TO may be any signal. Appends.
bool parse_rewrite(std::string_view text, Config* config, std::string* err);

// "child" or "group".
bool parse_forward_to(std::string_view text, Config* config, std::string* err);

// An exit code 0..255 that counts as success. Appends.
bool parse_success_status(std::string_view text, Config* config,
                          std::string* err);

// "no", "on-failure", "always".
bool parse_restart(std::string_view text, Config* config, std::string* err);

// "N/INTERVAL", e.g. "5/60s": at most N restarts within INTERVAL.
bool parse_restart_limit(std::string_view text, Config* config,
                         std::string* err);

// systemd's watchdog for byed: WATCHDOG_USEC, when WATCHDOG_PID is unset or
// names `self`. 0 when there is none; an error when WATCHDOG_USEC is
// malformed.
bool parse_watchdog_env(const char* usec, const char* pid, pid_t self,
                        uint64_t* out, std::string* err);

// "leader", "follower", "leader,follower" (either order).
bool parse_exit_role(std::string_view text, Config* config, std::string* err);

// [NAME=]PORT, HOST:PORT, [V6]:PORT, unix:/path. Hosts are IP literals or
// localhost: byed resolves no names.
bool parse_listen(std::string_view text, ListenAddress* out, std::string* err);

// The pure part of sd_listen_fds, given the three variables and our pid:
// no fds when LISTEN_PID is absent or not ours; an error when LISTEN_FDS is
// not a count. Invalid names become "unknown", as systemd's own.
bool parse_listen_env(const char* listen_fds, const char* listen_pid,
                      const char* listen_fdnames, pid_t self, ListenEnv* out,
                      std::string* err);

// A valid LISTEN_FDNAMES entry: 1..255 printable ASCII characters, no ':'.
bool valid_fd_name(std::string_view name);

// Checks what the parsers cannot see alone (the program, an upgrade signal
// that is also a stop signal, a --ready delay past --ready-timeout).
bool validate(const Config& config, std::string* err);

// Checks what needs the held sockets: --ready accepting:NAME names one.
bool validate_held_sockets(const Config& config, std::string* err);

// The environment variables byed consumes and replaces for its children.
bool consumed_env_var(std::string_view key);

// basename of argv[0] of the command, for the default --name.
std::string default_name(const std::vector<std::string>& command);

}  // namespace byed
