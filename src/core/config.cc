#include "config.h"

#include <arpa/inet.h>
#include <signal.h>
#include <sys/un.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <limits>

#include "signals.h"
#include "text.h"

namespace byed {

std::optional<Millis> parse_duration(std::string_view text) {
  if (text == "0") return Millis{0};
  if (text.empty()) return std::nullopt;
  // A sum of NUMBER UNIT terms, each unit at most once, largest first.
  static constexpr struct {
    std::string_view unit;
    int64_t ms;
  } kUnits[] = {{"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
  constexpr int64_t kMax = int64_t{1} << 40;  // ~35 years: no overflow below
  int64_t total = 0;
  size_t next_unit = 0;  // units must come in decreasing order, once each
  size_t i = 0;
  while (i < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
    int64_t n = 0;
    while (i < text.size() &&
           std::isdigit(static_cast<unsigned char>(text[i]))) {
      n = n * 10 + (text[i] - '0');
      if (n > kMax) return std::nullopt;
      ++i;
    }
    size_t j = i;
    while (j < text.size() &&
           std::isalpha(static_cast<unsigned char>(text[j]))) {
      ++j;
    }
    std::string_view unit = text.substr(i, j - i);
    const auto* u =
        std::find_if(std::begin(kUnits) + next_unit, std::end(kUnits),
                     [&](const auto& k) { return k.unit == unit; });
    if (u == std::end(kUnits)) return std::nullopt;  // unknown or repeated
    total += n * u->ms;
    if (total > kMax) return std::nullopt;
    next_unit = static_cast<size_t>(u - std::begin(kUnits)) + 1;
    i = j;
  }
  return Millis{total};
}

std::string format_duration(Millis d) {
  int64_t ms = d.count();
  if (ms == 0) return "0";
  std::string out;
  if (ms >= 60000) {
    out += std::to_string(ms / 60000) + "m";
    ms %= 60000;
  }
  if (ms >= 1000 && ms % 1000 == 0) {
    out += std::to_string(ms / 1000) + "s";
  } else if (ms > 0) {
    out += std::to_string(ms) + "ms";
  }
  return out;
}

namespace {

// The whole of s as a decimal number within [min, max].
std::optional<long> parse_number(std::string_view s, long min, long max) {
  long v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  if (v < min || v > max) return std::nullopt;
  return v;
}

// Any pid: a value of pid_t that is not negative.
std::optional<long> parse_pid(std::string_view s) {
  return parse_number(s, 0, std::numeric_limits<pid_t>::max());
}

// One of a few keywords: "--restart 'x': expected no, on-failure or always".
std::optional<int> pick(
    std::string_view text, const char* flag,
    std::initializer_list<std::pair<std::string_view, int>> choices,
    std::string* err) {
  std::string expected;
  size_t i = 0;
  for (const auto& [word, value] : choices) {
    if (text == word) return value;
    expected += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ");
    expected += word;
    ++i;
  }
  fail(err, std::string(flag) + " '" + std::string(text) + "': expected " +
                expected);
  return std::nullopt;
}

bool parse_port(std::string_view whole, std::string_view s, uint16_t* port,
                std::string* err) {
  auto v = parse_number(s, 0, std::numeric_limits<long>::max());
  if (!v) {
    return fail(err, "--listen '" + std::string(whole) + "': '" +
                         std::string(s) + "' is not a port (0..65535)");
  }
  if (*v > 65535) {
    return fail(err, "--listen '" + std::string(whole) + "': port " +
                         std::string(s) + " is out of range (0..65535)");
  }
  *port = static_cast<uint16_t>(*v);
  return true;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) != 0;
  });
}

// A signal by name or number, KILL and STOP included: what byed may send.
std::optional<int> parse_any_signal(std::string_view text) {
  if (auto sig = parse_signal(text)) return sig;
  std::string up;
  for (char c : text) {
    up.push_back(
        static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  std::string_view s = up;
  if (s.substr(0, 3) == "SIG") s.remove_prefix(3);
  if (s == "KILL" || s == std::to_string(SIGKILL)) return SIGKILL;
  if (s == "STOP" || s == std::to_string(SIGSTOP)) return SIGSTOP;
  return std::nullopt;
}

}  // namespace

namespace {

// FLAG's value through `parse` into *out, or "FLAG 'TEXT': `what`".
template <typename T, typename Parse>
bool parse_option(std::string_view flag, std::string_view text, Parse parse,
                  const char* what, T* out, std::string* err) {
  auto v = parse(text);
  if (!v) {
    return fail(err,
                std::string(flag) + " '" + std::string(text) + "': " + what);
  }
  *out = static_cast<T>(*v);
  return true;
}

std::optional<long> parse_count(std::string_view text) {
  return parse_number(text, 0, 1000000);
}

}  // namespace

bool parse_duration_option(std::string_view flag, std::string_view text,
                           Millis* out, std::string* err) {
  return parse_option(flag, text, parse_duration,
                      "not a duration (use e.g. 500ms, 30s, 2m, or 0)", out,
                      err);
}

bool parse_signal_option(std::string_view flag, std::string_view text, int* out,
                         std::string* err) {
  return parse_option(flag, text, parse_signal, "not a catchable signal name",
                      out, err);
}

bool parse_count_option(std::string_view flag, std::string_view text, int* out,
                        std::string* err) {
  return parse_option(flag, text, parse_count, "not a number", out, err);
}

bool parse_upgrade_signal(std::string_view text, Config* config,
                          std::string* err) {
  if (text == "none" || text == "0") {
    config->upgrade_signal = 0;
    return true;
  }
  return parse_signal_option("--upgrade-signal", text, &config->upgrade_signal,
                             err);
}

bool parse_switch(std::string_view name, std::string_view text, bool* out,
                  std::string* err) {
  if (auto on = pick(text, "",
                     {{"1", 1},
                      {"true", 1},
                      {"yes", 1},
                      {"on", 1},
                      {"0", 0},
                      {"false", 0},
                      {"no", 0},
                      {"off", 0}},
                     err)) {
    *out = *on == 1;
    return true;
  }
  return fail(err, std::string(name) + "='" + std::string(text) +
                       "': expected 1 or 0 (or true/false, yes/no, on/off)");
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  for (std::string_view part : split(text, ',')) {
    if (!part.empty()) out.emplace_back(part);
  }
  return out;
}

bool parse_wait_for(std::string_view text, Config* config, std::string*) {
  for (std::string& name : split_list(text)) {
    config->wait_for.push_back(std::move(name));
  }
  return true;
}

bool parse_log_format(std::string_view text, Config* config, std::string* err) {
  auto json = pick(text, "--log-format", {{"text", 0}, {"json", 1}}, err);
  if (!json) return false;
  config->log_format = *json == 1 ? LogFormat::kJson : LogFormat::kText;
  return true;
}

bool parse_log_child(std::string_view text, Config* config, std::string* err) {
  auto mode = pick(
      text, "--log-child",
      {{"raw", 0}, {"tag", 1}, {"json", 2}, {"journal", 3}, {"auto", 4}}, err);
  if (!mode) return false;
  config->log_child = static_cast<ChildLogMode>(*mode);
  return true;
}

namespace {

// An upgrade signal must be one byed catches and may give that meaning.
bool valid_upgrade_signal(int sig, std::string* err) {
  auto caught = caught_signals();
  bool reserved = classify_signal(sig, 0) != SignalClass::kForward;
  if (!reserved &&
      std::find(caught.begin(), caught.end(), sig) != caught.end()) {
    return true;
  }
  return fail(err, "--upgrade-signal " + signal_name(sig) +
                       ": byed does not catch it for that (TERM, INT, QUIT, "
                       "CHLD, job control, faults and PIPE keep their own "
                       "meaning; 'none' frees USR1)");
}

}  // namespace

bool validate(const Config& config, std::string* err) {
  if (config.command.empty()) {
    return fail(err, "no program given: byed [OPTIONS] -- PROGRAM [ARGS]");
  }
  if (config.command.front().empty()) {
    return fail(err, "the program name is empty");
  }
  if (config.ready_timeout.count() <= 0) {
    return fail(err, "--ready-timeout must be longer than 0");
  }
  if (config.control.size() >= sizeof(sockaddr_un::sun_path)) {
    return fail(err, "--control '" + config.control + "': path too long");
  }
  if (config.upgrade_signal != 0 &&
      !valid_upgrade_signal(config.upgrade_signal, err)) {
    return false;
  }
  for (const auto& rw : config.rewrite) {
    if (rw.first == SIGCHLD) {
      return fail(err, "--rewrite CHLD: byed reaps on CHLD, never forwards it");
    }
    if (rw.first == config.upgrade_signal) {
      return fail(err, "--rewrite " + signal_name(rw.first) +
                           ": it is the upgrade signal, never forwarded "
                           "(free it with --upgrade-signal none)");
    }
  }
  if (config.restart_delay.count() <= 0) {
    return fail(err, "--restart-delay must be longer than 0");
  }
  if (config.ready.alive >= config.ready_timeout) {
    return fail(err, "--ready " + format_duration(config.ready.alive) +
                         " is not shorter than --ready-timeout " +
                         format_duration(config.ready_timeout) +
                         ": no generation could ever be ready");
  }
  if (config.ready_interval.count() <= 0) {
    return fail(err, "--ready-interval must be longer than 0");
  }
  if (config.health_interval.count() <= 0) {
    return fail(err, "--health-interval must be longer than 0");
  }
  if (config.health_failures <= 0) {
    return fail(err, "--health-failures must be at least 1");
  }
  for (const std::string& n : config.wait_for) {
    if (n.empty() || n[0] == '.' || n.find('/') != std::string::npos) {
      return fail(err, "--wait-for '" + n +
                           "': must be a member name (no '/', not starting "
                           "with '.', not empty)");
    }
  }
  if (config.upgrade_batch > 0 && config.workers == 0) {
    return fail(err,
                "--upgrade-batch needs --workers: it upgrades workers "
                "a batch at a time");
  }
  if (config.workers > 10000) {
    return fail(
        err, "--workers " + std::to_string(config.workers) + ": at most 10000");
  }
  if (!config.wait_for.empty() && config.ready_dir.empty()) {
    return fail(err, "--wait-for needs --ready-dir: where the entries appear");
  }
  if (!config.exit_dir.empty() || !config.ready_dir.empty()) {
    const std::string& n = config.name;
    if (n.empty() || n[0] == '.' || n.find('/') != std::string::npos ||
        n.find('\0') != std::string::npos) {
      return fail(err, "--name '" + n +
                           "': must be a plain file name (no '/', not "
                           "starting with '.', not empty): it names the "
                           "marker in EXIT_DIR");
    }
  }
  return true;
}

bool parse_ready(std::string_view text, Config* config, std::string* err) {
  ReadyRules& r = config->ready;
  const bool first = r.automatic;  // nothing but the default so far
  if (text == "auto") {
    if (!first) return fail(err, "--ready auto cannot be combined with a rule");
    return true;
  }
  if (first) r.automatic = false;
  if (text == "message") {
    r.message = true;
  } else if (text == "accepting") {
    r.accepting = true;
  } else if (text.substr(0, 10) == "accepting:") {
    r.accepting = true;
    for (std::string_view name : split(text.substr(10), ',')) {
      if (!valid_fd_name(name)) {
        return fail(err, "--ready '" + std::string(text) + "': '" +
                             std::string(name) + "' is not a socket name");
      }
      r.accepting_names.emplace_back(name);
    }
  } else if (text.substr(0, 5) == "exec:") {
    if (text.size() == 5) {
      return fail(err, "--ready 'exec:': no command after 'exec:'");
    }
    r.exec.emplace_back(text.substr(5));
  } else if (auto d = parse_duration(text); d && d->count() > 0) {
    r.alive = *d;
  } else {
    return fail(err, "--ready '" + std::string(text) +
                         "': expected auto, message, accepting[:NAME,...], "
                         "exec:CMD or a duration like 2s");
  }
  return true;
}

bool validate_held_sockets(const Config& config, std::string* err) {
  const ReadyRules& r = config.ready;
  if (r.accepting && config.held_sockets.empty()) {
    return fail(err,
                "--ready accepting: byed holds no socket (--listen or "
                "LISTEN_FDS) to see the program wait on");
  }
  for (const std::string& name : r.accepting_names) {
    if (std::find(config.held_sockets.begin(), config.held_sockets.end(),
                  name) == config.held_sockets.end()) {
      return fail(err, "--ready accepting:" + name +
                           ": byed holds no socket of that name");
    }
  }
  return true;
}

bool parse_workers(std::string_view text, Config* config, std::string* err) {
  if (text == "auto") {
    config->workers = kWorkersAuto;
    return true;
  }
  int n = 0;
  if (!parse_count_option("--workers", text, &n, err)) return false;
  if (n < 1) {
    return fail(err, "--workers '" + std::string(text) +
                         "': at least 1 (or auto: one per CPU)");
  }
  config->workers = n;
  return true;
}

int resolve_workers(int workers, int cpus) {
  if (workers != kWorkersAuto) return workers;
  return std::max(cpus, 1);
}

bool parse_health(std::string_view text, Config* config, std::string* err) {
  if (text.substr(0, 5) != "exec:" || text.size() == 5) {
    return fail(err, "--health '" + std::string(text) + "': expected exec:CMD");
  }
  config->health = std::string(text.substr(5));
  return true;
}

Millis ready_settle(const Config& config) {
  if (config.ready_settle) return *config.ready_settle;
  return config.ready.automatic ? Millis{1000} : Millis{0};
}

bool parse_exit_role(std::string_view text, Config* config, std::string* err) {
  bool leader = false, follower = false;
  for (std::string_view part : split(text, ',')) {
    if (part == "leader") {
      leader = true;
    } else if (part == "follower") {
      follower = true;
    } else {
      return fail(err, "--exit-role '" + std::string(text) +
                           "': expected leader, follower or leader,follower");
    }
  }
  config->exit_leader = leader;
  config->exit_follower = follower;
  return true;
}

bool parse_rewrite(std::string_view text, Config* config, std::string* err) {
  auto bad = [&](const std::string& why) {
    return fail(err, "--rewrite '" + std::string(text) + "': " + why);
  };
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return bad("expected FROM:TO, two signals (TO may be none)");
  }
  std::string_view from_text = text.substr(0, colon);
  std::string_view to_text = text.substr(colon + 1);
  auto from = parse_any_signal(from_text);
  if (!from) return bad("'" + std::string(from_text) + "' is not a signal");
  auto caught = caught_signals();
  if (std::find(caught.begin(), caught.end(), *from) == caught.end()) {
    return bad("byed never catches " + signal_name(*from) +
               " (KILL, STOP, the faults and PIPE are not caught), so it "
               "could never be rewritten");
  }
  std::optional<int> to;
  if (to_text == "0" || to_text == "none" || to_text == "NONE") {
    to = 0;
  } else {
    to = parse_any_signal(to_text);
  }
  if (!to) {
    return bad("'" + std::string(to_text) +
               "' is not a signal (TO may also be none)");
  }
  config->rewrite.emplace_back(*from, *to);
  return true;
}

bool parse_forward_to(std::string_view text, Config* config, std::string* err) {
  auto group = pick(text, "--forward-to", {{"child", 0}, {"group", 1}}, err);
  if (!group) return false;
  config->forward_to_group = *group == 1;
  return true;
}

bool parse_success_status(std::string_view text, Config* config,
                          std::string* err) {
  auto n = parse_number(text, 0, 255);
  if (!n) {
    return fail(err, "--success-status '" + std::string(text) +
                         "': expected an exit code 0..255");
  }
  config->success_status.push_back(static_cast<int>(*n));
  return true;
}

bool parse_restart(std::string_view text, Config* config, std::string* err) {
  auto p = pick(text, "--restart",
                {{"no", static_cast<int>(RestartPolicy::kNo)},
                 {"on-failure", static_cast<int>(RestartPolicy::kOnFailure)},
                 {"always", static_cast<int>(RestartPolicy::kAlways)}},
                err);
  if (!p) return false;
  config->restart = static_cast<RestartPolicy>(*p);
  return true;
}

bool parse_restart_limit(std::string_view text, Config* config,
                         std::string* err) {
  size_t slash = text.find('/');
  auto n = parse_number(text.substr(0, slash), 1, 1000000);
  std::optional<Millis> interval;
  if (slash != std::string_view::npos) {
    interval = parse_duration(text.substr(slash + 1));
  }
  if (!n || !interval || interval->count() <= 0) {
    return fail(err, "--restart-limit '" + std::string(text) +
                         "': expected N/INTERVAL, e.g. 5/60s (N >= 1)");
  }
  config->restart_burst = static_cast<int>(*n);
  config->restart_interval = *interval;
  return true;
}

bool parse_watchdog_env(const char* usec, const char* pid, pid_t self,
                        uint64_t* out, std::string* err) {
  *out = 0;
  if (usec == nullptr) return true;
  if (pid != nullptr) {
    auto p = parse_pid(pid);
    if (!p || *p != self) return true;  // meant for another process
  }
  auto v = parse_number(usec, 1, std::numeric_limits<long>::max());
  if (!v) {
    return fail(err, "WATCHDOG_USEC='" + std::string(usec) +
                         "': not a number of microseconds");
  }
  *out = static_cast<uint64_t>(*v);
  return true;
}

bool valid_fd_name(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  for (unsigned char c : name) {
    if (c < 0x21 || c > 0x7e || c == ':') return false;
  }
  return true;
}

bool parse_listen(std::string_view text, ListenAddress* out, std::string* err) {
  auto bad = [&](const std::string& why) {
    return fail(err, "--listen '" + std::string(text) + "': " + why);
  };
  ListenAddress a;
  a.text = std::string(text);
  std::string_view rest = text;
  // NAME= prefix: only if what precedes '=' has no ':' '[' or '/'.
  size_t eq = rest.find('=');
  if (eq != std::string_view::npos &&
      rest.substr(0, eq).find_first_of(":[/") == std::string_view::npos) {
    a.name = std::string(rest.substr(0, eq));
    if (!valid_fd_name(a.name)) {
      return bad("name must be 1-255 printable characters without ':'");
    }
    rest.remove_prefix(eq + 1);
  }
  if (rest.empty()) return bad("no address");
  if (rest.substr(0, 5) == "unix:") {
    a.kind = ListenAddress::Kind::kUnix;
    a.path = std::string(rest.substr(5));
    if (a.path.empty() || a.path[0] != '/') {
      return bad("unix socket path must be absolute");
    }
    if (a.path.size() >= sizeof(sockaddr_un::sun_path)) {
      return bad("unix socket path too long");
    }
    if (a.path.find('\0') != std::string::npos) return bad("NUL in path");
    *out = std::move(a);
    return true;
  }
  if (rest[0] == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos || rest.substr(close + 1, 1) != ":") {
      return bad("expected [V6ADDR]:PORT");
    }
    a.host = std::string(rest.substr(1, close - 1));
    in6_addr tmp{};
    if (inet_pton(AF_INET6, a.host.c_str(), &tmp) != 1) {
      return bad("'" + a.host + "' is not an IPv6 address");
    }
    if (!parse_port(text, rest.substr(close + 2), &a.port, err)) return false;
    *out = std::move(a);
    return true;
  }
  size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) {
    if (!all_digits(rest)) {
      return bad(
          "neither a port (0..65535) nor an address (HOST:PORT, "
          "[V6]:PORT, unix:/PATH)");
    }
    if (!parse_port(text, rest, &a.port, err)) return false;
    *out = std::move(a);
    return true;
  }
  a.host = std::string(rest.substr(0, colon));
  if (a.host.empty() || a.host.find(':') != std::string::npos) {
    return bad("expected HOST:PORT (write IPv6 as [ADDR]:PORT)");
  }
  in_addr tmp{};
  if (a.host != "localhost" && inet_pton(AF_INET, a.host.c_str(), &tmp) != 1) {
    return bad("'" + a.host +
               "' is not an IPv4 address (byed takes IP literals or "
               "localhost, and resolves no names)");
  }
  if (!parse_port(text, rest.substr(colon + 1), &a.port, err)) return false;
  *out = std::move(a);
  return true;
}

bool parse_listen_env(const char* listen_fds, const char* listen_pid,
                      const char* listen_fdnames, pid_t self, ListenEnv* out,
                      std::string* err) {
  *out = ListenEnv{};
  if (listen_fds == nullptr || listen_pid == nullptr) return true;
  auto pid = parse_pid(listen_pid);
  if (!pid || *pid != self) return true;  // meant for another process
  auto n = parse_number(listen_fds, 0, 4096);
  if (!n) {
    return fail(err, "LISTEN_FDS='" + std::string(listen_fds) +
                         "': not a count of fds");
  }
  out->count = static_cast<int>(*n);
  std::vector<std::string_view> names;
  if (listen_fdnames != nullptr) names = split(listen_fdnames, ':');
  for (int i = 0; i < out->count; ++i) {
    bool named = static_cast<size_t>(i) < names.size() &&
                 valid_fd_name(names[static_cast<size_t>(i)]);
    out->names.push_back(named ? std::string(names[static_cast<size_t>(i)])
                               : "unknown");
  }
  return true;
}

bool consumed_env_var(std::string_view key) {
  // Exactly the variables of the protocols byed speaks for its children,
  // which it sets anew for each generation, and its own BYED_*. An
  // application's LISTEN_PORT or WATCHDOG_URL is not byed's.
  static constexpr std::string_view kReplaced[] = {
      "LISTEN_FDS",    "LISTEN_PID",    "LISTEN_FDNAMES",
      "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
      "UPGRADE_FD",    "EXIT_DIR",      "PIDFILE"};
  for (auto k : kReplaced) {
    if (key == k) return true;
  }
  return key.substr(0, 5) == "BYED_";
}

std::string default_name(const std::vector<std::string>& command) {
  if (command.empty()) return "byed";
  const std::string& p = command.front();
  auto slash = p.find_last_of('/');
  std::string base = slash == std::string::npos ? p : p.substr(slash + 1);
  return base.empty() ? "byed" : base;
}

}  // namespace byed
