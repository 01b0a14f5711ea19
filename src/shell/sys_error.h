// sys_error.h — the message of a failed system call.
//
// With text.h's fail(), the whole error convention at system boundaries:
// `return fail(err, sys_error("bind " + address));` gives
// "bind 0.0.0.0:80: Address already in use".
#pragma once

#include <string.h>

#include <cerrno>
#include <string>

#include "text.h"

namespace byed {

// "what: strerror(e)"; e is errno unless given.
inline std::string sys_error(const std::string& what, int e = errno) {
  return what + ": " + strerror(e);
}

}  // namespace byed
