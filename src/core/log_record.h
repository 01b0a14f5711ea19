// log_record.h — what byed has to say, before it is a line.
//
// The core decides what to log (a LogRecord in a Log action); the shell's
// Logger (shell/log.h) decides nothing but how the record looks and where
// it goes.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace byed {

enum class LogFormat { kText, kJson };
enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

using LogFields = std::vector<std::pair<std::string, std::string>>;

struct LogRecord {
  LogLevel level = LogLevel::kInfo;
  int gen = 0;  // 0: not about one generation
  std::string message;
  LogFields fields;
};

}  // namespace byed
