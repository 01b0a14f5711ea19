#include "cli.h"

#include <CLI/CLI.hpp>
#include <iterator>
#include <string_view>
#include <vector>

#include "config.h"

namespace byed {
namespace {

bool fail(std::string* err, std::string message) {
  *err = std::move(message);
  return false;
}

// Applies one value of an option to the Config; the message names the flag.
using Setter = bool (*)(std::string_view value, Config* config,
                        std::string* err);

enum class Kind {
  kValue,     // given once; its variable holds one value
  kList,      // repeatable; its variable holds a comma-separated list
  kRepeated,  // repeatable; its variable holds one value (--ready: the
              // commas of an exec: command are part of the rule)
};

// One valued option: its flags, its variable, its default and its grammar.
struct Option {
  const char* flags;    // CLI11's names, e.g. "-l,--listen"
  const char* type;     // the value's placeholder in --help
  const char* env;      // the BYED_ variable that sets it
  const char* alt_env;  // the protocol's own name (EXIT_DIR), read after env
  Kind kind;
  const char* def;  // the default as --help shows it; nullptr: none
  const char* help;
  Setter set;
};

const Option kOptions[] = {
    {"--stop-timeout", "DUR", "BYED_STOP_TIMEOUT", nullptr, Kind::kValue, "30s",
     "after a stop signal, SIGKILL what is still running when this passes; "
     "0 = never",
     [](std::string_view v, Config* c, std::string* e) {
       return parse_duration_option("--stop-timeout", v, &c->stop_timeout, e);
     }},
    {"--upgrade-signal", "SIG", "BYED_UPGRADE_SIGNAL", nullptr, Kind::kValue,
     "USR1",
     "signal that starts an upgrade; never forwarded; none: every signal "
     "is forwarded and upgrades come from 'byed ctl upgrade'",
     parse_upgrade_signal},
    {"--forward-to", "WHO", "BYED_FORWARD_TO", nullptr, Kind::kValue, "child",
     "child: forwarded and stop signals go to the program; group: to its "
     "whole process group",
     parse_forward_to},
    {"--exit-role", "ROLES", "BYED_EXIT_ROLE", nullptr, Kind::kValue,
     "leader,follower",
     "leader: leave NAME.exit when the child ends; follower: stop the "
     "child when an entry appears",
     parse_exit_role},
    {"--ready-timeout", "DUR", "BYED_READY_TIMEOUT", nullptr, Kind::kValue,
     "60s", "a generation not ready by then has failed",
     [](std::string_view v, Config* c, std::string* e) {
       return parse_duration_option("--ready-timeout", v, &c->ready_timeout, e);
     }},
    {"--ready-settle", "DUR", "BYED_READY_SETTLE", nullptr, Kind::kValue,
     nullptr,
     "an upgrade's new generation stays ready this long beside the old "
     "one before the old is drained; dying meanwhile fails the upgrade "
     "(default 1s with --ready auto, else 0)",
     [](std::string_view v, Config* c, std::string* e) {
       Millis d{0};
       if (!parse_duration_option("--ready-settle", v, &d, e)) return false;
       c->ready_settle = d;
       return true;
     }},
    {"--ready-interval", "DUR", "BYED_READY_INTERVAL", nullptr, Kind::kValue,
     "250ms", "time between two runs of a --ready exec: probe",
     [](std::string_view v, Config* c, std::string* e) {
       return parse_duration_option("--ready-interval", v, &c->ready_interval,
                                    e);
     }},
    {"--health", "exec:CMD", "BYED_HEALTH", nullptr, Kind::kValue, nullptr,
     "liveness: sh -c CMD runs every --health-interval against the "
     "serving generation; --health-failures failures in a row make it "
     "hung (ABRT, KILL after --stop-timeout, then --restart)",
     parse_health},
    {"--health-interval", "DUR", "BYED_HEALTH_INTERVAL", nullptr, Kind::kValue,
     "10s", "time between two --health probes",
     [](std::string_view v, Config* c, std::string* e) {
       return parse_duration_option("--health-interval", v, &c->health_interval,
                                    e);
     }},
    {"--health-failures", "N", "BYED_HEALTH_FAILURES", nullptr, Kind::kValue,
     "3", "failed --health probes in a row that mean hung",
     [](std::string_view v, Config* c, std::string* e) {
       return parse_count_option("--health-failures", v, &c->health_failures,
                                 e);
     }},
    {"--stop-delay", "DUR", "BYED_STOP_DELAY", nullptr, Kind::kValue, "0",
     "on a stop signal, say STOPPING=1 and keep serving this long "
     "before forwarding it (load balancers deregister); a second stop "
     "signal ends the delay",
     [](std::string_view v, Config* c, std::string* e) {
       return parse_duration_option("--stop-delay", v, &c->stop_delay, e);
     }},
    {"--ready-dir", "DIR", "BYED_READY_DIR", nullptr, Kind::kValue, nullptr,
     "leave NAME.ready here once the first generation is ready "
     "(removed on exit); created if missing; never EXIT_DIR",
     [](std::string_view v, Config* c, std::string*) {
       c->ready_dir = std::string(v);
       return true;
     }},
    {"--wait-for", "NAME,...", "BYED_WAIT_FOR", nullptr, Kind::kValue, nullptr,
     "start the child only once NAME.ready exists in --ready-dir for "
     "each NAME",
     parse_wait_for},
    {"--wait-for-timeout", "DUR", "BYED_WAIT_FOR_TIMEOUT", nullptr,
     Kind::kValue, "0",
     "give up waiting for --wait-for after this long (exit 1); 0 = "
     "wait as long as it takes",
     [](std::string_view v, Config* c, std::string* e) {
       return parse_duration_option("--wait-for-timeout", v,
                                    &c->wait_for_timeout, e);
     }},
    {"--drain-signal", "SIG", "BYED_DRAIN_SIGNAL", nullptr, Kind::kValue,
     "TERM", "sent to the old generation once the new one is ready",
     [](std::string_view v, Config* c, std::string* e) {
       return parse_signal_option("--drain-signal", v, &c->drain_signal, e);
     }},
    {"--restart", "WHEN", "BYED_RESTART", nullptr, Kind::kValue, "no",
     "when the serving generation ends unasked: no, on-failure (exit "
     "code not 0, or a signal) or always; a new one starts on the held "
     "sockets",
     parse_restart},
    {"--restart-delay", "DUR", "BYED_RESTART_DELAY", nullptr, Kind::kValue,
     "100ms",
     "first back-off before a restart; doubles up to 10s, back to this "
     "once a generation stayed ready 1s",
     [](std::string_view v, Config* c, std::string* e) {
       return parse_duration_option("--restart-delay", v, &c->restart_delay, e);
     }},
    {"--restart-limit", "N/DUR", "BYED_RESTART_LIMIT", nullptr, Kind::kValue,
     "5/60s",
     "at most N restarts within DUR; past it byed exits with the last "
     "status",
     parse_restart_limit},
    {"--watchdog", "DUR", "BYED_WATCHDOG", nullptr, Kind::kValue, "0",
     "a serving generation that sent WATCHDOG=1 and then is silent for "
     "this long is hung: ABRT, KILL after --stop-timeout, then "
     "--restart; 0 = off",
     [](std::string_view v, Config* c, std::string* e) {
       return parse_duration_option("--watchdog", v, &c->watchdog, e);
     }},
    {"--ready", "RULE", "BYED_READY", nullptr, Kind::kRepeated, nullptr,
     "when a new generation is ready (repeatable: all must hold): auto "
     "(default), message (a byte on UPGRADE_FD or READY=1 on "
     "NOTIFY_SOCKET), accepting[:NAME,...] (its processes wait on the "
     "held sockets), exec:CMD (sh -c CMD exits 0), or a duration alive",
     parse_ready},
    {"--rewrite", "SIG:SIG", "BYED_REWRITE", nullptr, Kind::kList, nullptr,
     "FROM:TO: forward signal FROM as TO (repeatable; TO none drops "
     "it); a rewritten stop signal still stops byed",
     parse_rewrite},
    {"--success-status", "CODE", "BYED_SUCCESS_STATUS", nullptr, Kind::kList,
     nullptr,
     "exit 0 when the program's status is CODE (repeatable), e.g. 143 "
     "for a JVM stopped by TERM",
     parse_success_status},
    {"--parent-death-signal", "SIG", "BYED_PARENT_DEATH_SIGNAL", nullptr,
     Kind::kValue, nullptr,
     "byed receives SIG when the process that started it dies",
     [](std::string_view v, Config* c, std::string* e) {
       return parse_signal_option("--parent-death-signal", v,
                                  &c->parent_death_signal, e);
     }},
    {"-l,--listen", "[NAME=]ADDR", "BYED_LISTEN", nullptr, Kind::kList, nullptr,
     "socket to hold and pass to every generation: [NAME=]PORT, "
     "HOST:PORT, [V6]:PORT or unix:/path (repeatable)",
     [](std::string_view v, Config* c, std::string* e) {
       ListenAddress a;
       if (!parse_listen(v, &a, e)) return false;
       c->listen.push_back(std::move(a));
       return true;
     }},
    {"--exit-dir", "DIR", "BYED_EXIT_DIR", "EXIT_DIR", Kind::kValue, nullptr,
     "coordinated-exit directory shared by a group (must exist)",
     [](std::string_view v, Config* c, std::string*) {
       c->exit_dir = std::string(v);
       return true;
     }},
    {"--name", "NAME", "BYED_NAME", nullptr, Kind::kValue, nullptr,
     "this member's name: marker file NAME.exit and log tag "
     "(default: program basename)",
     [](std::string_view v, Config* c, std::string*) {
       c->name = std::string(v);
       return true;
     }},
    {"--pidfile", "PATH", "BYED_PIDFILE", "PIDFILE", Kind::kValue, nullptr,
     "write byed's own pid here once the first generation is "
     "ready (the pid to send the upgrade signal to)",
     [](std::string_view v, Config* c, std::string*) {
       c->pidfile = std::string(v);
       return true;
     }},
    {"--control", "PATH", "BYED_CONTROL", nullptr, Kind::kValue, nullptr,
     "unix control socket for 'byed ctl' (mode 0600)",
     [](std::string_view v, Config* c, std::string*) {
       c->control = std::string(v);
       return true;
     }},
    {"--log-format", "FORMAT", "BYED_LOG_FORMAT", nullptr, Kind::kValue, "text",
     "byed's own messages on stderr: text or json", parse_log_format},
};

// The on/off options.
struct Switch {
  const char* flags;
  const char* env;
  const char* help;
};

const Switch kSwitches[] = {
    {"-q,--quiet", "BYED_QUIET", "log errors and warnings only"},
    {"-v,--verbose", "BYED_VERBOSE", "also log debug messages"},
    {"--no-subreaper", "BYED_NO_SUBREAPER",
     "do not adopt orphaned grandchildren (when not PID 1)"},
};

enum SwitchIndex { kQuiet, kVerbose, kNoSubreaper };

// "--listen" from "-l,--listen".
std::string long_name(const char* flags) {
  std::string_view f = flags;
  return std::string(f.substr(f.rfind(',') + 1));
}

// A variable's value, or nullptr when it is unset or empty.
const std::string* lookup(const Env& env, const char* name) {
  if (name == nullptr) return nullptr;
  auto it = env.find(std::string_view(name));
  if (it == env.end() || it->second.empty()) return nullptr;
  return &it->second;
}

// What CLI11 collected, one slot per entry of kOptions.
struct Collected {
  std::vector<std::string> one = std::vector<std::string>(std::size(kOptions));
  std::vector<std::vector<std::string>> many =
      std::vector<std::vector<std::string>>(std::size(kOptions));
};

void add_options(CLI::App* app, Collected* got) {
  for (size_t i = 0; i < std::size(kOptions); ++i) {
    const Option& o = kOptions[i];
    std::string help = o.help;
    help += std::string(" [env ") + o.env;
    if (o.alt_env != nullptr) help += std::string(" or ") + o.alt_env;
    if (o.kind == Kind::kList) help += ", comma-separated";
    if (o.kind == Kind::kRepeated) help += ": one rule";
    help += "]";
    CLI::Option* opt = o.kind == Kind::kValue
                           ? app->add_option(o.flags, got->one[i], help)
                           : app->add_option(o.flags, got->many[i], help)
                                 ->allow_extra_args(false);
    opt->type_name(o.type);
    if (o.def != nullptr) opt->default_str(o.def);
  }
  for (const Switch& s : kSwitches) {
    app->add_flag(s.flags)->description(std::string(s.help) + " [env " + s.env +
                                        "=1]");
  }
}

void describe(CLI::App* app) {
  app->description(
      "byed: a supervisor that starts PROGRAM as its child and stays in front "
      "of it: forwards signals, reaps zombies, returns the child's status, "
      "holds its sockets and upgrades it without downtime. 'byed ctl --help' "
      "for the control client.");
  app->footer("Run: byed [OPTIONS] -- PROGRAM [ARGS...]");
  app->set_help_flag("-h,--help", "print this help and exit");
  app->set_version_flag("--version", std::string("byed"));
  // Everything from the first non-option (or after "--") is the command,
  // passed through untouched: `byed -- prog -x` and `byed prog -x` alike.
  app->prefix_command();
}

// Which of byed's own settings a flag or a BYED_ variable gave.
struct Given {
  bool forward_to = false;
  bool log_level = false;
  bool subreaper = false;
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
    int level = 0;
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

bool parse_args(int argc, const char* const* argv, const Env& env,
                Config* config, std::string* err, ParseOutcome* outcome) {
  *outcome = ParseOutcome::kRun;
  CLI::App app{"", "byed"};
  describe(&app);
  Collected got;
  add_options(&app, &got);
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

  config->command = app.remaining();
  if (!config->command.empty() && config->command.front() == "--") {
    config->command.erase(config->command.begin());
  } else if (!config->command.empty() && config->command.front().size() > 1 &&
             config->command.front()[0] == '-') {
    return fail(err, "unknown option '" + config->command.front() + "'");
  }

  for (size_t i = 0; i < std::size(kOptions); ++i) {
    const Option& o = kOptions[i];
    std::vector<std::string> values;
    const char* from = nullptr;  // the variable the values came from
    if (app.count(long_name(o.flags)) > 0) {
      if (o.kind == Kind::kValue) {
        values.push_back(got.one[i]);
      } else {
        values = got.many[i];
      }
    } else {
      const std::string* v = lookup(env, o.env);
      from = o.env;
      if (v == nullptr) {
        v = lookup(env, o.alt_env);
        from = o.alt_env;
      }
      if (v != nullptr && o.kind == Kind::kList) {
        values = split_list(*v);
      } else if (v != nullptr) {
        values.push_back(*v);
      }
    }
    for (const std::string& v : values) {
      if (!o.set(v, config, err)) {
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

  // The switches: on when the flag is given, else as the variable says.
  bool on[std::size(kSwitches)] = {};
  bool by_flag[std::size(kSwitches)] = {};
  bool by_env[std::size(kSwitches)] = {};
  for (size_t i = 0; i < std::size(kSwitches); ++i) {
    const Switch& s = kSwitches[i];
    if (app.count(long_name(s.flags)) > 0) {
      on[i] = by_flag[i] = true;
    } else if (const std::string* v = lookup(env, s.env)) {
      if (!parse_switch(s.env, *v, &on[i], err)) return false;
      by_env[i] = true;
    }
  }
  // -q and -v are one setting: a flag for either wins over both variables.
  bool quiet = on[kQuiet], verbose = on[kVerbose];
  if (by_flag[kQuiet] || by_flag[kVerbose]) {
    quiet = by_flag[kQuiet];
    verbose = by_flag[kVerbose];
  }
  if (quiet) config->log_level = LogLevel::kWarn;
  if (verbose) config->log_level = LogLevel::kDebug;
  config->subreaper = !on[kNoSubreaper];

  Given given;
  given.forward_to = app.count("--forward-to") > 0 ||
                     lookup(env, "BYED_FORWARD_TO") != nullptr;
  given.log_level = by_flag[kQuiet] || by_flag[kVerbose] || by_env[kQuiet] ||
                    by_env[kVerbose];
  given.subreaper = by_flag[kNoSubreaper] || by_env[kNoSubreaper];
  honour_tini_and_dumb_init(env, given, config);

  if (config->name.empty()) config->name = default_name(config->command);
  return validate(*config, err);
}

std::string help_text() {
  CLI::App app{"", "byed"};
  describe(&app);
  Collected got;
  add_options(&app, &got);
  return app.help();
}

}  // namespace byed
