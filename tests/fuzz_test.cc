// Property tests over random input: every parser of outside input gets
// 100,000 strings (random bytes from an alphabet rich in the characters its
// grammar cares about, and mutations of valid examples). None may crash,
// hang or throw anything but its own error type, and what is accepted must
// satisfy the parser's invariants. Run under ASan+UBSan in CI.
#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "cli.h"
#include "config.h"
#include "control_protocol.h"
#include "notify_message.h"
#include "signals.h"
#include "sockets.h"
#include "text.h"
#include "waiting.h"

using namespace byed;

namespace {

constexpr int kRuns = 100000;

class Gen {
 public:
  Gen(std::string alphabet, std::vector<std::string> seeds)
      : alphabet_(std::move(alphabet)), seeds_(std::move(seeds)) {}

  std::string next() {
    std::string s;
    if (!seeds_.empty() && rng_() % 2 == 0) {
      s = seeds_[rng_() % seeds_.size()];
      int edits = 1 + static_cast<int>(rng_() % 4);
      for (int i = 0; i < edits; ++i) mutate(s);
    } else {
      size_t len = rng_() % 24;
      for (size_t i = 0; i < len; ++i) s += pick();
    }
    return s;
  }

 private:
  char pick() {
    // Mostly the grammar's alphabet, sometimes any byte at all.
    if (rng_() % 16 == 0) return static_cast<char>(rng_() % 256);
    return alphabet_[rng_() % alphabet_.size()];
  }
  void mutate(std::string& s) {
    size_t at = s.empty() ? 0 : rng_() % (s.size() + 1);
    switch (rng_() % 4) {
      case 0:
        s.insert(s.begin() + static_cast<long>(at), pick());
        break;
      case 1:
        if (!s.empty() && at < s.size()) s.erase(at, 1);
        break;
      case 2:
        if (!s.empty() && at < s.size()) s[at] = pick();
        break;
      case 3:
        s += s.substr(0, at);  // repeat a prefix: long inputs
        break;
    }
  }

  std::mt19937 rng_{12345};
  std::string alphabet_;
  std::vector<std::string> seeds_;
};

}  // namespace

TEST_CASE("fuzz: durations") {
  Gen g("0123456789msh ", {"30s", "1m30s", "250ms", "0", "1h", "999999999h"});
  int accepted = 0;
  for (int i = 0; i < kRuns; ++i) {
    std::string s = g.next();
    auto d = parse_duration(s);
    if (!d) continue;
    ++accepted;
    REQUIRE(d->count() >= 0);
    REQUIRE(parse_duration(format_duration(*d)) == d);
  }
  CHECK(accepted > 1000);  // the generator does reach the valid space
}

TEST_CASE("fuzz: signal names") {
  Gen g("SIGTERMUSRHPQKLWNCXRAVZ0123456789+-",
        {"TERM", "SIGUSR1", "RTMIN+3", "RTMAX-2", "15", "winch"});
  int accepted = 0;
  for (int i = 0; i < kRuns; ++i) {
    auto sig = parse_signal(g.next());
    if (!sig) continue;
    ++accepted;
    REQUIRE(*sig >= 1);
    REQUIRE(*sig <= SIGRTMAX);
    REQUIRE(*sig != SIGKILL);
    REQUIRE(*sig != SIGSTOP);
    REQUIRE(parse_signal(signal_name(*sig)) == sig);
  }
  CHECK(accepted > 1000);
}

TEST_CASE("fuzz: listen addresses") {
  Gen g("0123456789abcdef.:[]=/unixlocalhost_-",
        {"8080", "web=127.0.0.1:80", "[::1]:443", "unix:/run/x.sock",
         "localhost:0", "a=[fe80::1]:1"});
  int accepted = 0;
  for (int i = 0; i < kRuns; ++i) {
    std::string s = g.next();
    ListenAddress a;
    std::string err;
    if (parse_listen(s, &a, &err)) {
      ++accepted;
      REQUIRE(a.text == s);
      REQUIRE((a.name.empty() || valid_fd_name(a.name)));
      if (a.kind == ListenAddress::Kind::kUnix) REQUIRE(a.path[0] == '/');
    } else {
      REQUIRE(err.find("--listen") != std::string::npos);
    }
  }
  CHECK(accepted > 1000);
}

TEST_CASE("fuzz: LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES") {
  Gen counts("0123456789-x ", {"1", "3", "4096", "4097"});
  Gen names("abc:._-\t ", {"web:admin", "a::b", ":"});
  for (int i = 0; i < kRuns; ++i) {
    std::string n = counts.next(), fdnames = names.next();
    ListenEnv e;
    std::string err;
    if (parse_listen_env(n.c_str(), "42", fdnames.c_str(), 42, &e, &err)) {
      REQUIRE(e.count >= 0);
      REQUIRE(e.count <= 4096);
      REQUIRE(e.names.size() == static_cast<size_t>(e.count));
      for (const auto& name : e.names) REQUIRE(valid_fd_name(name));
    } else {
      REQUIRE(err.find("LISTEN_FDS") != std::string::npos);
    }
  }
}

TEST_CASE("fuzz: control protocol lines") {
  Gen g("{}[]\":,v1cmdstatusupgradestop \\0123456789e.-",
        {"{\"v\":1,\"cmd\":\"status\"}", "{\"cmd\":\"stop\"}",
         "{\"v\":1,\"cmd\":\"upgrade\",\"x\":[1,2,{}]}"});
  int accepted = 0;
  for (int i = 0; i < kRuns; ++i) {
    std::string err;
    Command cmd = static_cast<Command>(-1);
    if (parse_control_request(g.next(), &cmd, &err)) {
      ++accepted;
      REQUIRE((cmd == Command::kStatus || cmd == Command::kUpgrade ||
               cmd == Command::kStop));
    } else {
      REQUIRE_FALSE(err.empty());
    }
  }
  CHECK(accepted > 100);
}

TEST_CASE("fuzz: notify datagrams") {
  Gen g("READY=1\nSTATUS=x MAINPID WATCHDOG",
        {"READY=1\nSTATUS=ok", "READY=1", "=\n=\n"});
  for (int i = 0; i < kRuns; ++i) {
    for (const auto& [k, v] : parse_notify(g.next())) {
      REQUIRE_FALSE(k.empty());
      REQUIRE(k.find('\n') == std::string::npos);
      REQUIRE(v.find('\n') == std::string::npos);
    }
  }
}

TEST_CASE("fuzz: --ready and --exit-role") {
  Gen ready("automessage0123456789msh", {"auto", "message", "2s", "0"});
  Gen roles("leaderfollower,", {"leader", "follower", "leader,follower"});
  int ready_ok = 0, roles_ok = 0;
  for (int i = 0; i < kRuns; ++i) {
    Config c;
    std::string err, text = ready.next();
    if (parse_ready(text, &c, &err)) {
      ++ready_ok;
      REQUIRE(
          (text == "auto" || text == "message" || c.ready.alive.count() > 0));
      REQUIRE(c.ready.automatic == (text == "auto"));
    } else {
      REQUIRE(err.find("--ready '" + text + "'") != std::string::npos);
    }
    // The model: every comma-separated word is leader or follower.
    std::string r = roles.next();
    bool want_leader = false, want_follower = false, valid = true;
    for (auto part : split(r, ',')) {
      if (part == "leader") {
        want_leader = true;
      } else if (part == "follower") {
        want_follower = true;
      } else {
        valid = false;
      }
    }
    Config d;
    bool ok = parse_exit_role(r, &d, &err);
    REQUIRE(ok == valid);
    if (ok) {
      ++roles_ok;
      REQUIRE(d.exit_leader == want_leader);
      REQUIRE(d.exit_follower == want_follower);
    } else {
      REQUIRE(err.find("--exit-role") != std::string::npos);
    }
  }
  CHECK(ready_ok > 100);
  CHECK(roles_ok > 100);
}

TEST_CASE("fuzz: /proc text the accepting probe reads") {
  Gen fdinfo("tfd: events data pos ino sdev 0123456789abcdefx\n\t-",
             {"tfd:        3 events:       19 data:     7f0200000003  pos:0 "
              "ino:4b98 sdev:9\n",
              "pos:\t0\nflags:\t02\ntfd:        5 events:       1d data: "
              "5\n"});
  Gen syscall("running0123456789abcdefx -\n",
              {"running\n", "-1 0x7ffc92997a08 0x7f02dee322ad\n",
               "7 0x7fb694d4c2a0 0x1 0xffffffff 0x7fb694e2d8d0 0x0 0x0 "
               "0x7fff2ea891c8 0x7fb694f1b230\n"});
  Gen link("socket:[]0123456789anon_inode:eventpoll",
           {"socket:[12345]", "anon_inode:[eventpoll]"});
  std::mt19937 rng(54321);
  int lines_ok = 0, links_ok = 0;
  for (int i = 0; i < kRuns; ++i) {
    std::string text = fdinfo.next();
    std::vector<EpollTarget> targets;
    parse_epoll_fdinfo(text, &targets);
    size_t tfds = 0;
    for (size_t at = text.find("tfd:"); at != std::string::npos;
         at = text.find("tfd:", at + 1)) {
      ++tfds;
    }
    REQUIRE(targets.size() <= tfds);

    auto line = parse_syscall_line(syscall.next());
    if (line) {
      ++lines_ok;
      // What was accepted prints back as the kernel would and reads the same.
      char buf[256];
      const auto& a = line->args;
      if (line->state == SyscallLine::State::kRunning) {
        snprintf(buf, sizeof buf, "running\n");
      } else if (line->state == SyscallLine::State::kNoSyscall) {
        REQUIRE(line->nr == -1);
        snprintf(buf, sizeof buf, "-1 0x%llx 0x%llx\n",
                 static_cast<unsigned long long>(line->sp),
                 static_cast<unsigned long long>(line->pc));
      } else {
        REQUIRE(line->nr >= 0);
        snprintf(buf, sizeof buf,
                 "%ld 0x%llx 0x%llx 0x%llx 0x%llx 0x%llx 0x%llx 0x%llx 0x%llx",
                 line->nr, static_cast<unsigned long long>(a[0]),
                 static_cast<unsigned long long>(a[1]),
                 static_cast<unsigned long long>(a[2]),
                 static_cast<unsigned long long>(a[3]),
                 static_cast<unsigned long long>(a[4]),
                 static_cast<unsigned long long>(a[5]),
                 static_cast<unsigned long long>(line->sp),
                 static_cast<unsigned long long>(line->pc));
      }
      auto again = parse_syscall_line(buf);
      REQUIRE(again.has_value());
      REQUIRE(*again == *line);
      classify_blocked(*line);
    }

    std::string l = link.next();
    if (auto ino = parse_socket_link(l)) {
      ++links_ok;
      REQUIRE(l.rfind("socket:[", 0) == 0);
      REQUIRE(l.back() == ']');
      REQUIRE_FALSE(is_epoll_link(l));
    }

    // Random memory: every fd found is in range and in order.
    unsigned char bytes[64];
    for (auto& b : bytes) b = static_cast<unsigned char>(rng());
    size_t size = rng() % (sizeof bytes + 1);
    uint64_t nfds = rng() % 700;
    std::vector<int> fds;
    fdset_read_fds(bytes, size, nfds, &fds);
    bool in_range = true;
    for (size_t j = 0; j < fds.size(); ++j) {
      in_range = in_range && fds[j] >= 0 &&
                 static_cast<uint64_t>(fds[j]) < nfds &&
                 static_cast<size_t>(fds[j]) < size * 8 &&
                 (j == 0 || fds[j] > fds[j - 1]);
    }
    fds.clear();
    poll_read_fds(bytes, size, &fds);
    in_range =
        in_range && fds.size() <= size / 8 &&
        std::all_of(fds.begin(), fds.end(), [](int fd) { return fd >= 0; });
    REQUIRE(in_range);
  }
  CHECK(lines_ok > 100);
  CHECK(links_ok > 100);
}

TEST_CASE("fuzz: --rewrite") {
  Gen g("ABCDEFGHIKLMNOPQRSTUVWXYZ0123456789:+-nonesig",
        {"TERM:QUIT", "15:9", "TSTP:STOP", "USR2:none", "HUP:0",
         "RTMIN+1:RTMAX-2", "SEGV:TERM"});
  auto caught = caught_signals();
  int accepted = 0;
  for (int i = 0; i < kRuns; ++i) {
    std::string s = g.next();
    Config c;
    std::string err;
    if (parse_rewrite(s, &c, &err)) {
      ++accepted;
      REQUIRE(c.rewrite.size() == 1);
      auto [from, to] = c.rewrite[0];
      REQUIRE(std::find(caught.begin(), caught.end(), from) != caught.end());
      REQUIRE(to >= 0);
      REQUIRE(to <= SIGRTMAX);
    } else {
      REQUIRE(err.rfind("--rewrite '" + s + "': ", 0) == 0);
      REQUIRE(c.rewrite.empty());
    }
  }
  CHECK(accepted > 1000);
}

TEST_CASE("fuzz: command lines and environments") {
  // Words of byed's grammar, options among them, with and without values.
  const std::vector<std::string> words = {"--",
                                          "-q",
                                          "-v",
                                          "-l",
                                          "--listen",
                                          "--rewrite",
                                          "--name",
                                          "--ready",
                                          "--restart",
                                          "--exit-dir",
                                          "--watchdog",
                                          "--stop-timeout",
                                          "--help",
                                          "--version",
                                          "--bogus",
                                          "-x",
                                          "--forward-to",
                                          "--log-format",
                                          "--upgrade-signal",
                                          "--success-status",
                                          "--wait-for",
                                          "--ready-dir",
                                          "prog",
                                          "",
                                          "8080",
                                          "TERM:QUIT",
                                          "15:9",
                                          "group",
                                          "none",
                                          "json",
                                          "5s",
                                          "auto",
                                          "exec:true",
                                          "a,b",
                                          "-",
                                          "on-failure",
                                          "=",
                                          "--name=",
                                          "--listen=80",
                                          "-qv",
                                          "-l80",
                                          "USR1"};
  const std::vector<std::string> vars = {
      "BYED_LISTEN",    "BYED_REWRITE",
      "BYED_QUIET",     "BYED_READY",
      "BYED_NAME",      "EXIT_DIR",
      "TINI_VERBOSITY", "DUMB_INIT_SETSID",
      "BYED_RESTART",   "TINI_KILL_PROCESS_GROUP"};
  std::mt19937 rng(777);
  int ran = 0, help = 0;
  for (int i = 0; i < kRuns / 10; ++i) {
    std::vector<std::string> args{"byed"};
    size_t n = rng() % 8;
    for (size_t k = 0; k < n; ++k) args.push_back(words[rng() % words.size()]);
    Env env;
    size_t m = rng() % 3;
    for (size_t k = 0; k < m; ++k) {
      env[vars[rng() % vars.size()]] = words[rng() % words.size()];
    }
    std::vector<const char*> argv;
    for (const std::string& a : args) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    Config c;
    std::string err;
    ParseOutcome outcome;
    const bool ok = parse_args(static_cast<int>(args.size()), argv.data(), env,
                               &c, &err, &outcome);
    // byed builds CLI11's parser with only the options argv names, or none:
    // a parser of them all splits argv the same way.
    Config all_c;
    std::string all_err;
    ParseOutcome all_outcome;
    REQUIRE(parse_args(static_cast<int>(args.size()), argv.data(), env, &all_c,
                       &all_err, &all_outcome, ArgvSplit::kParser) == ok);
    REQUIRE(all_err == err);
    REQUIRE(all_outcome == outcome);
    REQUIRE(all_c.command == c.command);
    REQUIRE(all_c.name == c.name);
    REQUIRE(all_c.listen.size() == c.listen.size());
    REQUIRE(all_c.rewrite == c.rewrite);
    REQUIRE(all_c.log_level == c.log_level);
    REQUIRE(all_c.forward_to_group == c.forward_to_group);
    REQUIRE(all_c.stop_timeout == c.stop_timeout);
    REQUIRE(all_c.upgrade_signal == c.upgrade_signal);
    REQUIRE(all_c.exit_dir == c.exit_dir);
    REQUIRE(all_c.notes == c.notes);
    if (ok) {
      if (outcome != ParseOutcome::kRun) {
        ++help;
        continue;
      }
      ++ran;
      REQUIRE_FALSE(c.command.empty());
      REQUIRE_FALSE(c.name.empty());
      REQUIRE(validate(c, &err));
    } else {
      REQUIRE_FALSE(err.empty());
      REQUIRE(err.find('\n') == std::string::npos);
    }
  }
  CHECK(ran > 100);
  CHECK(help > 100);
}
