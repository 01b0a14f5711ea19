// cli.h — byed's own command line and environment, into a Config.
//
// Pure, like the rest of the core: argv and the environment come in as
// values, a Config or a one-line error goes out. Nothing here prints, reads
// the process's state or exits: --help and --version are outcomes the caller
// acts on. CLI11 (header-only) only splits argv into options here; the
// grammar of every value is config.cc's. main.cc maps an error to exit 2.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "config.h"

namespace byed {

// Environment variables by name, as the process got them.
using Env = std::map<std::string, std::string, std::less<>>;

// environ-style "KEY=VALUE" strings (null-terminated array) into an Env.
Env make_env(const char* const* environ_strings);

enum class ParseOutcome {
  kRun,      // *config is filled and valid: run it
  kHelp,     // print help_text() on stdout, exit 0
  kVersion,  // print the version on stdout, exit 0
};

// byed [OPTIONS] [--] PROGRAM [ARGS...], each option's environment variable
// read where its flag is not given (a flag wins; an empty variable counts as
// unset). Validates the whole Config once. On false, *err is one line that
// names the culprit: the option or the variable, and its value.
//
// CLI11 splits argv only where argv_has_options(), with only the options
// argv names; kParser splits every argv with a parser of all the options
// (the tests check that both ways give the same Config).
enum class ArgvSplit { kAuto, kParser };
bool parse_args(int argc, const char* const* argv, const Env& env,
                Config* config, std::string* err, ParseOutcome* outcome,
                ArgvSplit split = ArgvSplit::kAuto);

// Whether argv holds anything for the option parser before the program:
// argv[1] starts with '-' and is not "--" (an option, --help, --version, or
// an unknown option to be named). Otherwise argv[1..] is the command as it
// stands ("--" first, or the program), and no option was given.
bool argv_has_options(int argc, const char* const* argv);

// What `byed --help` prints.
std::string help_text();

}  // namespace byed
