// log.h — byed's own messages on stderr.
//
// One line per event: `NAME[PID]: gen=N message key=value` in text form
// (NAME: --name, by default the program's basename), or one JSON object per
// line with --log-format json. The child's own output never passes through
// here: it inherits byed's stdout and stderr, or, with --log-child, goes
// through child_output.h, where redirect() sends these records too.
#pragma once

#include <time.h>

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "log_record.h"

namespace byed {

class Logger {
 public:
  Logger(LogFormat format, LogLevel level, int pid, std::string name)
      : format_(format), level_(level), pid_(pid), name_(std::move(name)) {}

  bool enabled(LogLevel level) const { return level <= level_; }

  // The line (with its trailing newline) that write() would print.
  std::string format(const LogRecord& record) const;

  // Writes the record to stderr in one write(2), if its level is enabled.
  void write(const LogRecord& record) const;

  // Where write() puts its lines instead of stderr (--log-child: byed's
  // output queue, so a record never cuts into a child's line); nullptr:
  // stderr again.
  void redirect(std::function<void(std::string_view)> to) const {
    to_ = std::move(to);
  }

 private:
  LogFormat format_;
  LogLevel level_;
  int pid_;
  std::string name_;
  mutable std::function<void(std::string_view)> to_;
};

const char* level_name(LogLevel level);

}  // namespace byed
