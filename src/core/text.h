// text.h — text helpers the core and the shell share.
//
// Pure: the error convention's one helper, the one splitter byed's parsers use
// (PATH entries, comma lists, LISTEN_FDNAMES, notify datagram lines and
// --exit-role all split the same way), and the one timestamp format of logs,
// markers and status.
#pragma once

#include <time.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace byed {

// "a,b,,c" on ',' -> {"a", "b", "", "c"}; "" -> {""}. Every field is kept,
// empty ones too: what an empty field means is the caller's decision.
inline std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t at = text.find(sep, start);
    if (at == std::string_view::npos) {
      out.push_back(text.substr(start));
      return out;
    }
    out.push_back(text.substr(start, at - start));
    start = at + 1;
  }
}

// The error convention (see src/README.md): a function that can fail says
// why in *err and returns false — `return fail(err, "what: why");`.
inline bool fail(std::string* err, std::string message) {
  *err = std::move(message);
  return false;
}

// "2026-11-23T01:02:03.456Z": RFC 3339 in UTC with `fraction_digits`
// (3: milliseconds, 6: microseconds) after the seconds.
std::string rfc3339(const timespec& ts, int fraction_digits);

}  // namespace byed
