// environment.cc — children's and probes' environments (environment.h).
#include "environment.h"

#include <algorithm>

#include "config.h"

namespace byed {

std::vector<std::string> child_environment(const char* const* environ_in) {
  std::vector<std::string> env;
  for (const char* const* e = environ_in; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv = *e;
    if (!consumed_env_var(kv.substr(0, kv.find('=')))) env.emplace_back(kv);
  }
  return env;
}

std::vector<std::string> probe_environment(
    std::vector<std::string> base,
    const std::vector<std::pair<std::string, std::string>>& sockets) {
  if (sockets.empty()) return base;
  std::string all;
  for (const auto& [name, address] : sockets) {
    all += (all.empty() ? "" : ",") + name + "=" + address;
  }
  base.push_back("BYED_SOCKETS=" + all);
  base.push_back("BYED_ADDRESS=" + sockets.front().second);
  return base;
}

void remove_env_var(std::vector<std::string>* env, std::string_view name) {
  const std::string prefix = std::string(name) + "=";
  env->erase(std::remove_if(env->begin(), env->end(),
                            [&prefix](const std::string& kv) {
                              return kv.compare(0, prefix.size(), prefix) == 0;
                            }),
             env->end());
}

}  // namespace byed
