#include "cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iterator>
#include <string_view>
#include <vector>

#include "config.h"
#include "text.h"

namespace byed {
namespace {

// Applies one value of an option to the Config; the message names the flag.
using Setter = bool (*)(std::string_view value, Config* config,
                        std::string* err);

enum class Kind {
  kValue,     // given once; its variable holds one value
  kList,      // repeatable; its variable holds a comma-separated list
  kRepeated,  // repeatable; its variable holds one value (--ready: the
              // commas of an exec: command are part of the rule)
  kSwitch,    // no value; its variable holds 1 or 0
};

// The headings of --help, in order.
enum class Group { kStop, kUpgrade, kRestart, kSockets, kMembers, kFiles };

constexpr const char* kGroupTitles[] = {
    "Signals and stopping:", "Upgrades and readiness:",
    "Restarts and health:",  "Sockets:",
    "Groups of processes:",  "Files, control and logs:",
};

// A field of Config that takes a duration, a catchable signal or a count.
struct TypedField {
  enum class Type { kNone, kDuration, kSignal, kCount } type = Type::kNone;
  Millis Config::*millis = nullptr;
  int Config::*number = nullptr;
};
constexpr TypedField duration_field(Millis Config::*f) {
  return {TypedField::Type::kDuration, f, nullptr};
}
constexpr TypedField signal_field(int Config::*f) {
  return {TypedField::Type::kSignal, nullptr, f};
}
constexpr TypedField count_field(int Config::*f) {
  return {TypedField::Type::kCount, nullptr, f};
}

// One option: its flags, its variable, its default and its grammar.
struct Option {
  Group group;
  const char* flags;    // CLI11's names, e.g. "-l,--listen"
  const char* type;     // the value's placeholder in --help; "" for a switch
  const char* env;      // the BYED_ variable that sets it
  const char* alt_env;  // the protocol's own name (EXIT_DIR), read after env
  Kind kind;
  const char* def;  // the default as --help shows it; nullptr: none
  const char* help;
  Setter set;  // nullptr for a switch, and for a typed field
  // Or the value parsed into one field of Config as a duration, a signal
  // or a count, its error naming the flag: duration_field(&Config::x).
  TypedField field{};
};

bool set_string(std::string* field, std::string_view v) {
  *field = std::string(v);
  return true;
}

constexpr Option kOptions[] = {
    // Signals and stopping.
    {Group::kStop, "--stop-timeout", "DUR", "BYED_STOP_TIMEOUT", nullptr,
     Kind::kValue, "30s",
     "after a stop signal, SIGKILL what still runs when this passes; 0: "
     "never. Keep it below the orchestrator's own limit (docker stop: 10s, "
     "Kubernetes: 30s)",
     nullptr, duration_field(&Config::stop_timeout)},
    {Group::kStop, "--stop-delay", "DUR", "BYED_STOP_DELAY", nullptr,
     Kind::kValue, "0",
     "on a stop signal, say STOPPING=1 and keep serving this long before "
     "forwarding it (load balancers deregister); a second stop signal ends "
     "the delay",
     nullptr, duration_field(&Config::stop_delay)},
    {Group::kStop, "--forward-to", "WHO", "BYED_FORWARD_TO", nullptr,
     Kind::kValue, "child",
     "child: forwarded and stop signals go to the program; group: to its "
     "whole process group",
     parse_forward_to},
    {Group::kStop, "--rewrite", "SIG:SIG", "BYED_REWRITE", nullptr, Kind::kList,
     nullptr,
     "FROM:TO: forward signal FROM as TO (repeatable; TO may be KILL or "
     "STOP, none drops it); a rewritten stop signal still stops byed",
     parse_rewrite},
    {Group::kStop, "--success-status", "CODE", "BYED_SUCCESS_STATUS", nullptr,
     Kind::kList, nullptr,
     "exit 0 when the program's status is CODE (repeatable), e.g. 143 for "
     "a JVM stopped by TERM",
     parse_success_status},
    {Group::kStop, "--parent-death-signal", "SIG", "BYED_PARENT_DEATH_SIGNAL",
     nullptr, Kind::kValue, nullptr,
     "byed receives SIG when the process that started it dies", nullptr,
     signal_field(&Config::parent_death_signal)},
    {Group::kStop, "--no-subreaper", "", "BYED_NO_SUBREAPER", nullptr,
     Kind::kSwitch, nullptr,
     "do not register as a subreaper: orphans go to init, not to byed (no "
     "effect as PID 1)",
     nullptr},

    // Upgrades and readiness.
    {Group::kUpgrade, "--upgrade-signal", "SIG", "BYED_UPGRADE_SIGNAL", nullptr,
     Kind::kValue, "USR1",
     "starts an upgrade: a new generation on the same sockets, the old one "
     "drained once it is ready; never forwarded. none: every signal is "
     "forwarded, upgrades come from 'byed ctl upgrade'",
     parse_upgrade_signal},
    {Group::kUpgrade, "--drain-signal", "SIG", "BYED_DRAIN_SIGNAL", nullptr,
     Kind::kValue, "TERM",
     "sent to the old generation once the new one is ready", nullptr,
     signal_field(&Config::drain_signal)},
    {Group::kUpgrade, "--ready", "RULE", "BYED_READY", nullptr, Kind::kRepeated,
     "auto",
     "when a new generation is ready (repeatable: all must hold); see RULE "
     "below",
     parse_ready},
    {Group::kUpgrade, "--ready-timeout", "DUR", "BYED_READY_TIMEOUT", nullptr,
     Kind::kValue, "60s", "a generation not ready by then has failed", nullptr,
     duration_field(&Config::ready_timeout)},
    {Group::kUpgrade, "--ready-settle", "DUR", "BYED_READY_SETTLE", nullptr,
     Kind::kValue, nullptr,
     "an upgrade's new generation stays ready this long beside the old one "
     "before the old is drained; dying meanwhile fails the upgrade "
     "(default 1s with --ready auto, else 0)",
     [](std::string_view v, Config* c, std::string* e) {
       Millis d{};
       if (!parse_duration_option("--ready-settle", v, &d, e)) return false;
       c->ready_settle = d;
       return true;
     }},
    {Group::kUpgrade, "--ready-interval", "DUR", "BYED_READY_INTERVAL", nullptr,
     Kind::kValue, "250ms", "time between two runs of a --ready exec: probe",
     nullptr, duration_field(&Config::ready_interval)},

    // Restarts and health.
    {Group::kRestart, "--workers", "N", "BYED_WORKERS", nullptr, Kind::kValue,
     nullptr,
     "run N copies of the program on the held sockets, each its own process "
     "group with BYED_WORKER=0..N-1 and BYED_WORKERS=N; auto: one per CPU "
     "byed may run on. A worker that ends is replaced alone under --restart",
     parse_workers},
    {Group::kRestart, "--upgrade-batch", "K", "BYED_UPGRADE_BATCH", nullptr,
     Kind::kValue, "0",
     "with --workers: upgrade K workers at a time (K new ready, then K old "
     "drained), so memory never holds two full generations; 0: all at once",
     [](std::string_view v, Config* c, std::string* e) {
       return parse_count_option("--upgrade-batch", v, &c->upgrade_batch, e);
     }},
    {Group::kRestart, "--restart", "WHEN", "BYED_RESTART", nullptr,
     Kind::kValue, "no",
     "when the serving generation ends unasked: no, on-failure (exit code "
     "not 0, or a signal) or always; a new one starts on the held sockets",
     parse_restart},
    {Group::kRestart, "--restart-delay", "DUR", "BYED_RESTART_DELAY", nullptr,
     Kind::kValue, "100ms",
     "first back-off before a restart; doubles up to 10s, back to this once "
     "a generation stayed ready 1s",
     nullptr, duration_field(&Config::restart_delay)},
    {Group::kRestart, "--restart-limit", "N/DUR", "BYED_RESTART_LIMIT", nullptr,
     Kind::kValue, "5/60s",
     "at most N restarts within DUR; past it byed exits with the last status",
     parse_restart_limit},
    {Group::kRestart, "--watchdog", "DUR", "BYED_WATCHDOG", nullptr,
     Kind::kValue, "0",
     "a serving generation that sent WATCHDOG=1 and then is silent this "
     "long is hung: ABRT, KILL after --stop-timeout, then --restart; 0: off",
     nullptr, duration_field(&Config::watchdog)},
    {Group::kRestart, "--health", "exec:CMD", "BYED_HEALTH", nullptr,
     Kind::kValue, nullptr,
     "liveness: sh -c CMD runs every --health-interval against the serving "
     "generation; --health-failures failures in a row make it hung (ABRT, "
     "KILL after --stop-timeout, then --restart)",
     parse_health},
    {Group::kRestart, "--health-interval", "DUR", "BYED_HEALTH_INTERVAL",
     nullptr, Kind::kValue, "10s", "time between two --health probes", nullptr,
     duration_field(&Config::health_interval)},
    {Group::kRestart, "--health-failures", "N", "BYED_HEALTH_FAILURES", nullptr,
     Kind::kValue, "3", "failed --health probes in a row that mean hung",
     nullptr, count_field(&Config::health_failures)},

    // Sockets.
    {Group::kSockets, "-l,--listen", "[NAME=]ADDR", "BYED_LISTEN", nullptr,
     Kind::kList, nullptr,
     "a socket to hold and pass to every generation as LISTEN_FDS "
     "(repeatable); systemd's sockets come first",
     [](std::string_view v, Config* c, std::string* e) {
       ListenAddress a;
       if (!parse_listen(v, &a, e)) return false;
       c->listen.push_back(std::move(a));
       return true;
     }},

    // Groups of processes.
    {Group::kMembers, "--exit-dir", "DIR", "BYED_EXIT_DIR", "EXIT_DIR",
     Kind::kValue, nullptr,
     "coordinated-exit directory shared by a group (must exist)",
     [](std::string_view v, Config* c, std::string*) {
       return set_string(&c->exit_dir, v);
     }},
    {Group::kMembers, "--exit-role", "ROLES", "BYED_EXIT_ROLE", nullptr,
     Kind::kValue, "leader,follower",
     "leader: leave NAME.exit when the child ends; follower: stop the child "
     "when an entry appears",
     parse_exit_role},
    {Group::kMembers, "--name", "NAME", "BYED_NAME", nullptr, Kind::kValue,
     nullptr,
     "this member's name: marker file NAME.exit and log tag (default: the "
     "program's basename)",
     [](std::string_view v, Config* c, std::string* e) {
       if (v.empty()) {
         return fail(e,
                     "--name '': empty (it names the EXIT_DIR marker and tags "
                     "the log; leave it out for the program's basename)");
       }
       return set_string(&c->name, v);
     }},
    {Group::kMembers, "--ready-dir", "DIR", "BYED_READY_DIR", nullptr,
     Kind::kValue, nullptr,
     "leave NAME.ready here once the first generation is ready (removed on "
     "exit); created if missing; never EXIT_DIR",
     [](std::string_view v, Config* c, std::string*) {
       return set_string(&c->ready_dir, v);
     }},
    {Group::kMembers, "--wait-for", "NAME,...", "BYED_WAIT_FOR", nullptr,
     Kind::kValue, nullptr,
     "start the child only once NAME.ready exists in --ready-dir for each "
     "NAME",
     parse_wait_for},
    {Group::kMembers, "--wait-for-timeout", "DUR", "BYED_WAIT_FOR_TIMEOUT",
     nullptr, Kind::kValue, "0",
     "give up waiting for --wait-for after this long (exit 1); 0: wait as "
     "long as it takes",
     nullptr, duration_field(&Config::wait_for_timeout)},

    // Files, control and logs.
    {Group::kFiles, "--pidfile", "PATH", "BYED_PIDFILE", "PIDFILE",
     Kind::kValue, nullptr,
     "write byed's own pid here once the first generation is ready (the pid "
     "to send the upgrade signal to)",
     [](std::string_view v, Config* c, std::string*) {
       return set_string(&c->pidfile, v);
     }},
    {Group::kFiles, "--control", "PATH", "BYED_CONTROL", nullptr, Kind::kValue,
     nullptr, "unix control socket for 'byed ctl' (mode 0600)",
     [](std::string_view v, Config* c, std::string*) {
       return set_string(&c->control, v);
     }},
    {Group::kFiles, "--log-format", "FORMAT", "BYED_LOG_FORMAT", nullptr,
     Kind::kValue, "text", "byed's own messages on stderr: text or json",
     parse_log_format},
    {Group::kFiles, "--log-child", "MODE", "BYED_LOG_CHILD", nullptr,
     Kind::kValue, "raw",
     "the child's stdout and stderr: raw (inherited, untouched), tag (each "
     "line prefixed NAME[gen=G pid=P]), json (one object per line; byed's "
     "own messages too, unless --log-format is given), journal (native "
     "journal entries), or auto (journal when JOURNAL_STREAM is byed's "
     "stdout or stderr, else raw)",
     parse_log_child},
    {Group::kFiles, "-q,--quiet", "", "BYED_QUIET", nullptr, Kind::kSwitch,
     nullptr, "log warnings and errors only", nullptr},
    {Group::kFiles, "-v,--verbose", "", "BYED_VERBOSE", nullptr, Kind::kSwitch,
     nullptr, "also log debug messages", nullptr},
};

// "--listen" from "-l,--listen".
std::string long_name(const char* flags) {
  std::string_view f = flags;
  return std::string(f.substr(f.rfind(',') + 1));
}

// Sets option o's value v in *config.
bool set_value(const Option& o, std::string_view v, Config* config,
               std::string* err) {
  const TypedField& f = o.field;
  switch (f.type) {
    case TypedField::Type::kDuration:
      return parse_duration_option(long_name(o.flags), v, &(config->*f.millis),
                                   err);
    case TypedField::Type::kSignal:
      return parse_signal_option(long_name(o.flags), v, &(config->*f.number),
                                 err);
    case TypedField::Type::kCount:
      return parse_count_option(long_name(o.flags), v, &(config->*f.number),
                                err);
    case TypedField::Type::kNone:
      break;
  }
  return o.set(v, config, err);
}

// The entry of a long flag, at compile time (a flag that is not in kOptions
// does not compile).
constexpr size_t index_of(std::string_view flag) {
  for (size_t i = 0; i < std::size(kOptions); ++i) {
    std::string_view f = kOptions[i].flags;
    if (f.substr(f.rfind(',') + 1) == flag) return i;
  }
  throw "no such flag";
}

// A variable's value, or nullptr when it is unset or empty.
const std::string* lookup(const Env& env, const char* name) {
  if (name == nullptr) return nullptr;
  const std::string_view key(name);
  // A byed started by a worker of another byed inherits that worker's
  // BYED_WORKER and BYED_WORKERS: they describe the worker, they are not
  // an option for this byed.
  if (key == "BYED_WORKERS" &&
      env.find(std::string_view("BYED_WORKER")) != env.end()) {
    return nullptr;
  }
  auto it = env.find(key);
  if (it == env.end() || it->second.empty()) return nullptr;
  return &it->second;
}

// What argv gave, before any variable is read: per entry of kOptions
// whether its flag was given and its values (one for a kValue), and the
// rest of argv from the program on ("--" first where it was given).
struct FromArgv {
  std::vector<char> flagged = std::vector<char>(std::size(kOptions));
  std::vector<std::vector<std::string>> values =
      std::vector<std::vector<std::string>>(std::size(kOptions));
  std::vector<std::string> rest;
};

// What CLI11 collected, one slot per entry of kOptions.
struct Collected {
  std::vector<std::string> one = std::vector<std::string>(std::size(kOptions));
  std::vector<std::vector<std::string>> many =
      std::vector<std::vector<std::string>>(std::size(kOptions));
  // Each entry's CLI11 option, asked directly whether it was given:
  // App::count(name) compares the name with every option's names, copying
  // strings, and asking it once per option was a quarter of byed's start.
  std::vector<const CLI::Option*> opt =
      std::vector<const CLI::Option*>(std::size(kOptions));
};

// The entries of kOptions an argument of argv may name: "--name" and
// "--name=value" name one long flag, "-abc" each of the short flags a, b, c
// (a cluster, or -a with its value attached). CLI11 matches an option only
// by a name an argument carries (no prefixes, no variables, no config file
// here), so a parser without the others splits argv the same way.
std::vector<char> named_in(int argc, const char* const* argv) {
  std::vector<char> named(std::size(kOptions));
  auto mark = [&named](std::string_view name) {
    for (size_t i = 0; i < std::size(kOptions); ++i) {
      for (std::string_view f = kOptions[i].flags; !f.empty();) {
        const size_t comma = f.find(',');
        if (f.substr(0, comma) == name) named[i] = true;
        f = comma == std::string_view::npos ? "" : f.substr(comma + 1);
      }
    }
  };
  for (int k = 1; k < argc; ++k) {
    const std::string_view a = argv[k];
    if (a.size() > 2 && a.substr(0, 2) == "--") {
      mark(a.substr(0, a.find('=')));
    } else if (a.size() > 1 && a[0] == '-') {
      for (char c : a.substr(1)) mark(std::string{'-', c});
    }
  }
  return named;
}

// The CLI11 parser for the entries of kOptions that argv names (see
// named_in: add_option compares each new option with all earlier ones and
// constructs it twice, 0.8 M instructions for all of them). Only argv is
// split with it: its help formatter and environment lookup go unused
// (help_text(), Env).
void add_options(CLI::App* app, const std::vector<char>& named,
                 Collected* got) {
  app->set_help_flag("-h,--help");
  app->set_version_flag("--version", std::string("byed"));
  for (size_t i = 0; i < std::size(kOptions); ++i) {
    if (!named[i]) continue;
    const Option& o = kOptions[i];
    switch (o.kind) {
      case Kind::kValue:
        got->opt[i] = app->add_option(o.flags, got->one[i]);
        break;
      case Kind::kList:
      case Kind::kRepeated:
        got->opt[i] =
            app->add_option(o.flags, got->many[i])->allow_extra_args(false);
        break;
      case Kind::kSwitch:
        got->opt[i] = app->add_flag(o.flags);
        break;
    }
  }
  // Everything from the first non-option (or after "--") is the command,
  // passed through untouched: `byed -- prog -x` and `byed prog -x` alike.
  app->prefix_command();
}

// argv split by CLI11 into *out; --help and --version are outcomes.
bool split_with_parser(int argc, const char* const* argv,
                       const std::vector<char>& options, FromArgv* out,
                       std::string* err, ParseOutcome* outcome) {
  CLI::App app{"", "byed"};
  Collected got;
  add_options(&app, options, &got);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    *outcome = ParseOutcome::kHelp;
    return true;
  } catch (const CLI::CallForAllHelp&) {
    *outcome = ParseOutcome::kHelp;
    return true;
  } catch (const CLI::CallForVersion&) {
    *outcome = ParseOutcome::kVersion;
    return true;
  } catch (const CLI::ParseError& e) {
    return fail(err, e.what());
  }
  for (size_t i = 0; i < std::size(kOptions); ++i) {
    if (got.opt[i] == nullptr || got.opt[i]->count() == 0) continue;
    out->flagged[i] = true;
    if (kOptions[i].kind == Kind::kValue) {
      out->values[i].push_back(std::move(got.one[i]));
    } else if (kOptions[i].kind != Kind::kSwitch) {
      out->values[i] = std::move(got.many[i]);
    }
  }
  out->rest = app.remaining();
  return true;
}

// Which of byed's own settings a flag or a BYED_ variable gave.
struct Given {
  bool forward_to;
  bool log_level;
  bool subreaper;
};

// tini's and dumb-init's variables, for a drop-in that keeps their
// settings: each applies where byed has the feature and neither a flag nor
// a BYED_ variable says otherwise. They are read as tini and dumb-init read
// them (TINI_KILL_PROCESS_GROUP and TINI_SUBREAPER count when set at all,
// DUMB_INIT_SETSID only "0" turns setsid off) and passed on to the program,
// which may be a nested tini. Each one read becomes a note.
void honour_tini_and_dumb_init(const Env& env, const Given& given,
                               Config* config) {
  auto note = [config](std::string text) {
    config->notes.push_back(std::move(text));
  };
  auto as_given = [](const char* name, const std::string& value) {
    return std::string(name) + "=" + value;
  };
  auto tini_group = env.find("TINI_KILL_PROCESS_GROUP");
  const std::string* setsid = lookup(env, "DUMB_INIT_SETSID");
  if (tini_group != env.end()) {
    std::string what = as_given("TINI_KILL_PROCESS_GROUP", tini_group->second);
    if (given.forward_to) {
      note(what + ": ignored, --forward-to is given");
    } else {
      config->forward_to_group = true;
      note(what + ": --forward-to group");
    }
    if (setsid != nullptr) {
      note(as_given("DUMB_INIT_SETSID", *setsid) +
           ": ignored, TINI_KILL_PROCESS_GROUP is set");
    }
  } else if (setsid != nullptr) {
    std::string what = as_given("DUMB_INIT_SETSID", *setsid);
    if (given.forward_to) {
      note(what + ": ignored, --forward-to is given");
    } else {
      config->forward_to_group = *setsid != "0";
      note(what + ": --forward-to " +
           (config->forward_to_group ? "group" : "child"));
    }
  }
  auto tini_subreaper = env.find("TINI_SUBREAPER");
  if (tini_subreaper != env.end()) {
    std::string what = as_given("TINI_SUBREAPER", tini_subreaper->second);
    note(given.subreaper && !config->subreaper
             ? what + ": ignored, --no-subreaper is given"
             : what + ": nothing to do, byed always reaps as a subreaper");
  }
  if (const std::string* v = lookup(env, "TINI_VERBOSITY")) {
    std::string what = as_given("TINI_VERBOSITY", *v);
    int level{};
    std::string ignored;
    if (given.log_level) {
      note(what + ": ignored, -q or -v is given");
    } else if (!parse_count_option("TINI_VERBOSITY", *v, &level, &ignored)) {
      note(what + ": ignored, not a number");
    } else if (level <= 1) {  // tini's default 1: warnings only
      config->log_level = LogLevel::kWarn;
      note(what + ": -q");
    } else if (level == 2) {  // tini's info
      config->log_level = LogLevel::kInfo;
      note(what + ": byed's default level");
    } else {  // tini's debug and trace
      config->log_level = LogLevel::kDebug;
      note(what + ": -v");
    }
  }
}

// --help: lines of at most 79 columns, descriptions at column 30, in the
// layout help2man turns into a man page (sections "Options:",
// "Environment:", "Examples:"; a heading ending in ':' is a subsection).
constexpr size_t kWidth = 79;
constexpr size_t kColumn = 30;

// "  HEAD  text...", `text` wrapped at kWidth and continued at kColumn.
// Every HEAD leaves two spaces before the column (the tests check it).
void entry(std::string* out, std::string_view head, std::string_view text) {
  std::string line = "  " + std::string(head);
  line.resize(kColumn, ' ');
  size_t used = kColumn;
  bool first = true;
  while (!text.empty()) {
    size_t space = text.find(' ');
    std::string_view word = text.substr(0, space);
    text = space == std::string_view::npos ? "" : text.substr(space + 1);
    if (!first && used + 1 + word.size() > kWidth) {
      *out += line + "\n";
      line = std::string(kColumn, ' ');
      used = kColumn;
      first = true;
    }
    if (!first) {
      line += ' ';
      ++used;
    }
    line += word;
    used += word.size();
    first = false;
  }
  *out += line + "\n";
}

// A paragraph indented by two, wrapped at kWidth.
void paragraph(std::string* out, std::string_view text) {
  std::string line = " ";
  while (!text.empty()) {
    size_t space = text.find(' ');
    std::string_view word = text.substr(0, space);
    text = space == std::string_view::npos ? "" : text.substr(space + 1);
    if (line.size() + 1 + word.size() > kWidth) {
      *out += line + "\n";
      line = " ";
    }
    line += " ";
    line += word;
  }
  *out += line + "\n";
}

std::string flag_text(const Option& o) {
  std::string flags = o.flags;
  size_t comma = flags.find(',');
  if (comma != std::string::npos) flags.insert(comma + 1, " ");
  return o.kind == Kind::kSwitch ? flags : flags + " " + o.type;
}

}  // namespace

Env make_env(const char* const* environ_strings) {
  Env env;
  for (const char* const* e = environ_strings; e != nullptr && *e != nullptr;
       ++e) {
    std::string_view kv = *e;
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

bool argv_has_options(int argc, const char* const* argv) {
  if (argc < 2) return false;
  const std::string_view first = argv[1];
  return first != "--" && !first.empty() && first[0] == '-';
}

bool parse_args(int argc, const char* const* argv, const Env& env,
                Config* config, std::string* err, ParseOutcome* outcome,
                ArgvSplit split) {
  *outcome = ParseOutcome::kRun;
  // Building CLI11's parser for every option was most of byed's start-up:
  // argv that starts with the program, or with "--", is split without it,
  // other argv with a parser of the options it names. The variables are
  // read below either way, from the same table.
  FromArgv got;
  if (split == ArgvSplit::kParser || argv_has_options(argc, argv)) {
    const std::vector<char> options =
        split == ArgvSplit::kParser
            ? std::vector<char>(std::size(kOptions), true)
            : named_in(argc, argv);
    if (!split_with_parser(argc, argv, options, &got, err, outcome)) {
      return false;
    }
    if (*outcome != ParseOutcome::kRun) return true;
  } else {
    got.rest.assign(argv + std::min(argc, 1), argv + argc);
  }

  config->command = std::move(got.rest);
  if (!config->command.empty() && config->command.front() == "--") {
    config->command.erase(config->command.begin());
  } else if (!config->command.empty() && config->command.front().size() > 1 &&
             config->command.front()[0] == '-') {
    return fail(err, "unknown option '" + config->command.front() + "'");
  }

  // Each option from its flag, else from its variable; switches noted.
  std::vector<char> on(std::size(kOptions)), by_flag(std::size(kOptions)),
      by_env(std::size(kOptions));
  for (size_t i = 0; i < std::size(kOptions); ++i) {
    const Option& o = kOptions[i];
    if (o.kind == Kind::kSwitch) {
      bool value{};
      if (got.flagged[i]) {
        on[i] = by_flag[i] = true;
      } else if (const std::string* v = lookup(env, o.env)) {
        if (!parse_switch(o.env, *v, &value, err)) return false;
        on[i] = value;
        by_env[i] = true;
      }
      continue;
    }
    std::vector<std::string> values;
    const char* from = nullptr;  // the variable the values came from
    if (got.flagged[i]) {
      by_flag[i] = true;
      values = std::move(got.values[i]);
    } else {
      const std::string* v = lookup(env, o.env);
      from = o.env;
      if (v == nullptr) {
        v = lookup(env, o.alt_env);
        from = o.alt_env;
      }
      by_env[i] = v != nullptr;
      if (v != nullptr && o.kind == Kind::kList) {
        values = split_list(*v);
      } else if (v != nullptr) {
        values.push_back(*v);
      }
    }
    for (const std::string& v : values) {
      if (!set_value(o, v, config, err)) {
        if (from == nullptr) return false;
        *err = std::string(from) + ": " + *err;
        if (o.kind == Kind::kRepeated && v.find(',') != std::string::npos) {
          *err += std::string(" (") + from +
                  " holds one rule, commas included; give more with " +
                  long_name(o.flags) + ")";
        }
        return false;
      }
    }
  }

  // -q and -v are one setting: a flag for either wins over both variables.
  constexpr size_t quiet = index_of("--quiet");
  constexpr size_t verbose = index_of("--verbose");
  constexpr size_t no_subreaper = index_of("--no-subreaper");
  constexpr size_t forward_to = index_of("--forward-to");
  bool is_quiet = on[quiet], is_verbose = on[verbose];
  if (by_flag[quiet] || by_flag[verbose]) {
    is_quiet = by_flag[quiet];
    is_verbose = by_flag[verbose];
  }
  if (is_quiet) config->log_level = LogLevel::kWarn;
  if (is_verbose) config->log_level = LogLevel::kDebug;
  config->subreaper = !on[no_subreaper];
  // One format reaches the collector: --log-child json makes byed's own
  // records JSON too, unless --log-format says otherwise.
  constexpr size_t log_format = index_of("--log-format");
  if (config->log_child == ChildLogMode::kJson && !by_flag[log_format] &&
      !by_env[log_format]) {
    config->log_format = LogFormat::kJson;
  }

  const Given given{
      by_flag[forward_to] || by_env[forward_to],
      by_flag[quiet] || by_flag[verbose] || by_env[quiet] || by_env[verbose],
      by_flag[no_subreaper] || by_env[no_subreaper]};
  honour_tini_and_dumb_init(env, given, config);

  if (config->name.empty()) config->name = default_name(config->command);
  return validate(*config, err);
}

std::string help_text() {
  std::string out =
      "Usage: byed [OPTIONS] -- PROGRAM [ARGS...]\n"
      "  or:  byed ctl [--control PATH] [--json] [--timeout DUR] "
      "status|upgrade|stop\n\n";
  paragraph(&out,
            "byed starts PROGRAM as its child and stays in front of it: it "
            "forwards signals (TERM, INT and QUIT stop), reaps zombies and "
            "exits with the child's status; it holds listening sockets and "
            "upgrades the program without downtime (USR1, or 'byed ctl "
            "upgrade'); it stops a group of processes together through "
            "EXIT_DIR. 'byed ctl --help' for the control client.");
  out += "\nOptions:\n";
  for (size_t g = 0; g < std::size(kGroupTitles); ++g) {
    out += std::string(g == 0 ? "" : "\n") + kGroupTitles[g] + "\n";
    for (const Option& o : kOptions) {
      if (static_cast<size_t>(o.group) != g) continue;
      std::string text = o.help;
      if (o.def != nullptr) text += std::string("; default ") + o.def;
      entry(&out, flag_text(o), text);
    }
    if (g + 1 == std::size(kGroupTitles)) {
      entry(&out, "-h, --help", "print this help and exit");
      entry(&out, "--version", "print the version and exit");
    }
  }
  out += "\nValues:\n";
  entry(&out, "DUR",
        "a duration: 500ms, 30s, 2m, 1h or a sum such as 1m30s, or 0; a "
        "bare number other than 0 is refused (the unit is never guessed)");
  entry(&out, "SIG",
        "a signal: TERM, SIGTERM, term or 15; RTMIN+N, RTMAX-N; KILL and "
        "STOP cannot be caught: only a --rewrite TO takes them");
  entry(&out, "[NAME=]ADDR",
        "PORT, HOST:PORT (an IPv4 address or localhost: no name is "
        "resolved), [V6]:PORT or unix:/PATH; NAME names the socket in "
        "LISTEN_FDNAMES");
  entry(&out, "RULE",
        "auto: the first of a message, accepting on the held sockets or "
        "alive 1s, as the program shows; message: a byte on UPGRADE_FD or "
        "READY=1 on NOTIFY_SOCKET; accepting[:NAME,...]: its processes wait "
        "on the held sockets; exec:CMD: the command exits 0 (run by sh -c); "
        "DUR: alive this long");

  out += "\nEnvironment:\n";
  paragraph(&out,
            "Each option has a variable: BYED_ and its name in capitals, - "
            "as _. A flag wins over it; an empty variable counts as unset. "
            "Lists are comma-separated; BYED_READY holds one rule (an exec: "
            "command may contain commas); switches take 1 or 0.");
  out += "\n";
  for (const Option& o : kOptions) {
    std::string text = flag_text(o);
    if (o.kind == Kind::kList) text += ",...";
    if (o.kind == Kind::kSwitch) text += " (1 or 0)";
    entry(&out, o.env, text);
    if (o.alt_env != nullptr) {
      entry(&out, o.alt_env,
            long_name(o.flags) + ", when " + o.env +
                " is unset (the protocol's own name)");
    }
  }
  entry(&out, "TINI_KILL_PROCESS_GROUP", "set: --forward-to group");
  entry(&out, "TINI_SUBREAPER", "nothing to do: byed always reaps");
  entry(&out, "TINI_VERBOSITY", "0 or 1: -q; 2: the default; 3 or more: -v");
  entry(&out, "DUMB_INIT_SETSID", "0: --forward-to child; else: group");
  out += "\n";
  paragraph(&out,
            "byed's own flag or BYED_ variable wins over tini's and "
            "dumb-init's, which are passed on to the program.");

  out +=
      "\nExamples:\n"
      "  Docker entrypoint: as PID 1 byed reaps, passes docker stop's TERM\n"
      "  on, and kills what is left after 8s, before docker's 10s:\n"
      "    ENTRYPOINT [\"/byed\", \"--stop-timeout\", \"8s\", \"--\"]\n"
      "  systemd with socket activation (myapp.socket holds the port,\n"
      "  Type=notify, ExecReload=/usr/bin/byed ctl upgrade):\n"
      "    ExecStart=/usr/bin/byed --control ${RUNTIME_DIRECTORY}/byed.sock "
      "-- gunicorn app:app\n"
      "  Upgrade without downtime: byed holds port 8080; ctl starts a new\n"
      "  generation, waits until it is ready, then drains the old one:\n"
      "    $ byed --listen 8080 --control /run/app.sock -- ./server &\n"
      "    $ byed ctl --control /run/app.sock upgrade\n"
      "  Pod sidecar: the log shipper stops when the job's byed leaves\n"
      "  job.exit in the volume both containers mount at /exit:\n"
      "    $ byed --exit-dir /exit --name job --exit-role leader -- ./job\n"
      "    $ byed --exit-dir /exit --exit-role follower -- ./ship-logs\n"
      "  Restart a crashed server on the same socket (no connection is\n"
      "  refused meanwhile), at most 5 times a minute:\n"
      "    $ byed --listen 8080 --restart on-failure --restart-limit 5/60s "
      "-- ./server\n";
  return out;
}

}  // namespace byed
