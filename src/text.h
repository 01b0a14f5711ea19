// text.h — the one splitter byed's parsers share.
//
// Pure and header-only: PATH entries, comma lists, LISTEN_FDNAMES, notify
// datagram lines and --exit-role all split the same way.
#pragma once

#include <string_view>
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

}  // namespace byed
