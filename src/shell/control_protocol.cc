// control_protocol.cc — request parsing, reply and status JSON (see the
// header for the types each field has).
#include "control_protocol.h"

#include "log.h"
#include "text.h"

namespace byed {
namespace {

nlohmann::json time_or_null(const timespec& ts) {
  if (ts.tv_sec == 0 && ts.tv_nsec == 0) return nullptr;
  return rfc3339(ts, 3);
}

long long millis_between(const timespec& a, const timespec& b) {
  return (static_cast<long long>(b.tv_sec) - a.tv_sec) * 1000 +
         (b.tv_nsec - a.tv_nsec) / 1000000;
}

// Milliseconds as a JSON number of seconds (448 -> 0.448).
nlohmann::json seconds(long long millis) {
  return static_cast<double>(millis) / 1000.0;
}

}  // namespace

std::string control_line(const nlohmann::json& message) {
  return message.dump(-1, ' ', false,
                      nlohmann::json::error_handler_t::replace) +
         "\n";
}

bool parse_control_request(const std::string& line, Command* cmd,
                           std::string* err, int* count) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    *err = "malformed request: expected one JSON object per line";
    return false;
  }
  auto v = j.find("v");
  if (v != j.end() && (!v->is_number_integer() || *v != kControlVersion)) {
    *err = "unsupported protocol version (this byed speaks v1)";
    return false;
  }
  auto c = j.find("cmd");
  if (c == j.end() || !c->is_string()) {
    *err = "missing \"cmd\"";
    return false;
  }
  const std::string& name = c->get_ref<const std::string&>();
  if (name == "status") {
    *cmd = Command::kStatus;
  } else if (name == "upgrade") {
    *cmd = Command::kUpgrade;
  } else if (name == "stop") {
    *cmd = Command::kStop;
  } else if (name == "workers") {
    *cmd = Command::kWorkers;
    auto n = j.find("count");
    if (n == j.end() || !n->is_number_integer() || *n < 0 || *n > 100000) {
      *err = "workers: \"count\" must be a whole number";
      return false;
    }
    if (count != nullptr) *count = n->get<int>();
  } else {
    *err = "unknown command '" + name + "' (status, upgrade, stop, workers)";
    return false;
  }
  return true;
}

nlohmann::json control_error(const std::string& message) {
  return {{"v", kControlVersion}, {"ok", false}, {"error", message}};
}

nlohmann::json upgrade_reply(const UpgradeResult& r) {
  nlohmann::json reply = {{"v", kControlVersion}, {"ok", r.ok}, {"gen", r.gen}};
  if (r.ok) {
    reply["pid"] = r.pid;
  } else {
    reply["reason"] = r.reason;
  }
  if (r.workers > 0) {
    reply["upgraded"] = r.upgraded;
    reply["workers"] = r.workers;
  }
  return reply;
}

nlohmann::json workers_reply(int workers) {
  return {{"v", kControlVersion}, {"ok", true}, {"workers", workers}};
}

nlohmann::json stopping_reply() {
  return {{"v", kControlVersion}, {"ok", true}, {"stopping", true}};
}

nlohmann::json status_reply(const StatusView& view, const StatusContext& ctx) {
  nlohmann::json gens = nlohmann::json::array();
  for (const auto& g : view.generations) {
    nlohmann::json gen = {{"gen", g.num},
                          {"pid", g.pid},
                          {"state", g.state},
                          {"current", g.current},
                          {"started_at", time_or_null(g.started_at)},
                          {"ready_at", time_or_null(g.ready_at)}};
    if (view.workers > 0) {
      nlohmann::json workers = nlohmann::json::array();
      for (const auto& w : g.workers) {
        workers.push_back({{"index", w.index},
                           {"pid", w.pid},
                           {"state", w.state},
                           {"restarts", w.restarts}});
      }
      gen["workers"] = std::move(workers);
    }
    gens.push_back(std::move(gen));
  }
  nlohmann::json socks = nlohmann::json::array();
  if (ctx.sockets != nullptr) {
    for (size_t i = 0; i < ctx.sockets->size(); ++i) {
      const HeldSocket& s = (*ctx.sockets)[i];
      socks.push_back({{"fd", 3 + i},
                       {"name", s.name},
                       {"address", s.address},
                       {"from", s.from_systemd ? "systemd" : "listen"}});
    }
  }
  nlohmann::json last;
  if (const auto& u = view.last_upgrade) {
    last = {
        {"result", u->ok ? "succeeded" : "failed"},
        {"gen", u->gen},
        {"reason", u->ok ? nlohmann::json() : nlohmann::json(u->reason)},
        {"duration_s", seconds(millis_between(u->started_at, u->finished_at))},
        {"finished_at", time_or_null(u->finished_at)}};
  }
  nlohmann::json restarts = {
      {"count", view.restarts},
      {"last_reason", view.last_restart_reason.empty()
                          ? nlohmann::json()
                          : nlohmann::json(view.last_restart_reason)},
      {"next_attempt", view.next_restart_at
                           ? nlohmann::json(rfc3339(*view.next_restart_at, 3))
                           : nlohmann::json()}};
  nlohmann::json reply = {
      {"v", kControlVersion},
      {"ok", true},
      {"pid", ctx.pid},
      {"started_at", rfc3339(ctx.started_at, 3)},
      {"uptime_s", seconds(millis_between(ctx.started_at, ctx.now))},
      {"phase", view.phase},
      {"stopping", view.stopping},
      {"upgrading", view.upgrading},
      {"generations", gens},
      {"sockets", socks},
      {"last_upgrade", last},
      {"restarts", restarts}};
  if (view.workers > 0) reply["workers"] = view.workers;
  return reply;
}

}  // namespace byed
