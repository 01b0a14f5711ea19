// environment.h — the environments byed gives what it starts.
//
// Pure. Every generation starts from byed's own environment less what
// byed consumes (config.h's consumed_env_var); a probe (--ready exec:,
// --health) sees the held sockets' addresses besides.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace byed {

// `environ_in` (NAME=value entries, null-terminated; null: none) less the
// variables byed consumes.
std::vector<std::string> child_environment(const char* const* environ_in);

// `base` and, when sockets are held, BYED_SOCKETS=name=address,... and
// BYED_ADDRESS, the first one's address (curl http://$BYED_ADDRESS/).
// sockets: (name, address) in child fd order.
std::vector<std::string> probe_environment(
    std::vector<std::string> base,
    const std::vector<std::pair<std::string, std::string>>& sockets);

// `env` without variable `name`.
void remove_env_var(std::vector<std::string>* env, std::string_view name);

}  // namespace byed
