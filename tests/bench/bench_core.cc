// bench_core — byed side by side with tini, tini-static and dumb-init, in
// one interleaved run, printed as one table with ratios.
//
//   bench_core BYED [RUNS] [NAME=PROGRAM ...]
//
// NAME=PROGRAM adds a wrapper run as `PROGRAM --` (another byed build, or a
// probe built to isolate one cost). Environment: BENCH_CROWD (extra host
// processes for the crowded phase, default 2000), BENCH_ORPHANS (default
// 200), BENCH_ORPHAN_RUNS (default 5).
//
// What it measures, for each wrapper (and no wrapper at all):
//   * HUP: kill(wrapper, HUP) -> the child's handler runs; the handler writes
//     its CLOCK_MONOTONIC time to a pipe, so our own wake-up is not counted;
//   * TERM: the same for the stop signal, each sample on a wrapper started
//     fresh (TERM ends it), and TERM -> the wrapper's exit;
//   * both again with BENCH_CROWD extra idle processes on the host;
//   * orphans (byed builds only: tini and dumb-init exit with their child and
//     leave orphans running): the child forks BENCH_ORPHANS orphans, each in
//     a session of its own, that exit on TERM (orphan i after i%10 ms); the
//     child exits on TERM. Last orphan's exit -> the wrapper's exit;
//   * start-to-exit of `WRAPPER -- /bin/true`;
//   * idle RSS and private dirty (smaps_rollup) with one sleeping child, and
//     the stripped binary's size.
// Every round takes one sample of each kind from each wrapper in turn, so
// drift in machine load hits all of them alike. Not a pass/fail test.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

extern char** environ;

#include "bench_crowd.h"
#include "bench_util.h"

namespace {

using bench::now_us;
using bench::pct;

// ---- what the child and its orphans report ---------------------------------

// One write each (below PIPE_BUF, so atomic): R ready, H HUP handler, T TERM
// handler, O orphan ready, X orphan exiting.
struct Record {
  char tag = 0;
  pid_t pid = 0;
  double t_us = 0;
};

void put(char tag) {
  Record r;
  r.tag = tag;
  r.pid = getpid();
  r.t_us = now_us();
  (void)!write(1, &r, sizeof r);
}

void on_hup(int) { put('H'); }
void on_term(int) {
  put('T');
  _exit(0);
}

int g_orphan_delay_ms = 0;
void on_orphan_term(int) {
  if (g_orphan_delay_ms > 0) {
    timespec ts{0, g_orphan_delay_ms * 1000000L};
    nanosleep(&ts, nullptr);
  }
  put('X');
  _exit(0);
}

// The wrapper's child. It dies with the wrapper, whichever the wrapper is.
int child_main() {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGHUP, on_hup);
  signal(SIGTERM, on_term);
  put('R');
  for (;;) pause();
}

// The wrapper's child that leaves n orphans. They outlive it by design, so
// they end by alarm() at the latest.
int orphans_main(int n) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGTERM, on_term);
  for (int i = 0; i < n; ++i) {
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, 0);
      setsid();
      g_orphan_delay_ms = i % 10;
      signal(SIGTERM, on_orphan_term);
      alarm(120);
      put('O');
      for (;;) pause();
    }
  }
  put('R');
  for (;;) pause();
}

// ---- cleanup, also on Ctrl-C -----------------------------------------------

// What must not outlive the benchmark: wrappers (their children die with
// them or with us) and orphans. Fixed arrays, so the handler can walk them.
constexpr int kMaxLive = 64, kMaxOrphans = 8192;
volatile pid_t g_live[kMaxLive];
volatile pid_t g_orphans[kMaxOrphans];
volatile pid_t g_crowd = 0;

void track(pid_t pid) {
  for (auto& p : g_live) {
    if (p == 0) {
      p = pid;
      return;
    }
  }
}
void untrack(pid_t pid) {
  for (auto& p : g_live) {
    if (p == pid) p = 0;
  }
}

void kill_everything() {
  if (g_crowd > 0) kill(-g_crowd, SIGKILL);
  for (auto& p : g_live) {
    if (p > 0) kill(p, SIGKILL);
  }
  for (auto& p : g_orphans) {
    if (p > 0) kill(p, SIGKILL);
  }
}

void on_interrupt(int sig) {
  kill_everything();
  signal(sig, SIG_DFL);
  raise(sig);
}

// ---- running wrappers ------------------------------------------------------

struct Wrapper {
  std::string name;
  std::vector<std::string> prefix;  // argv before the program
  std::string path;                 // the binary; empty: no wrapper
  bool waits_for_orphans = false;   // byed builds
};

pid_t spawn(const std::vector<std::string>& argv, int out_fd) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (out_fd >= 0) posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  std::vector<char*> a;
  for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawnp(&pid, a[0], &fa, nullptr, a.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  if (pid > 0) track(pid);
  return pid;
}

void reap(pid_t pid) {
  waitpid(pid, nullptr, 0);
  untrack(pid);
}

// Reads one record, waiting until deadline (now_us() time) at most.
bool read_record(int fd, Record* r, double deadline) {
  char* p = reinterpret_cast<char*>(r);
  size_t got = 0;
  while (got < sizeof *r) {
    int ms = static_cast<int>((deadline - now_us()) / 1000);
    if (ms <= 0) return false;
    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, ms) <= 0) continue;
    ssize_t n = read(fd, p + got, sizeof *r - got);
    if (n <= 0) return false;
    got += static_cast<size_t>(n);
  }
  return true;
}

char proc_state(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  std::ifstream f(path);
  std::string s((std::istreambuf_iterator<char>(f)), {});
  size_t rp = s.rfind(')');
  return rp == std::string::npos || rp + 2 >= s.size() ? '?' : s[rp + 2];
}

// Waits until pid sleeps (the wrapper is back in its wait for events), then
// a moment more, so that every sample starts from an idle wrapper.
void settle(pid_t pid) {
  double end = now_us() + 2e6;
  while (proc_state(pid) != 'S' && now_us() < end) usleep(100);
  usleep(1000);
}

// A wrapper running the child; out reads the child's records.
struct Running {
  pid_t pid = -1;
  pid_t child = -1;
  int out = -1;
};

Running start_child(const Wrapper& w, const std::string& self,
                    const std::vector<std::string>& mode) {
  Running r;
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return r;
  std::vector<std::string> argv = w.prefix;
  argv.push_back(self);
  argv.insert(argv.end(), mode.begin(), mode.end());
  r.pid = spawn(argv, p[1]);
  close(p[1]);
  r.out = p[0];
  return r;
}

void finish(Running& r) {
  if (r.pid > 0) {
    kill(r.pid, SIGKILL);
    reap(r.pid);
  }
  if (r.out >= 0) close(r.out);
  r = Running{};
}

Running start_ready(const Wrapper& w, const std::string& self) {
  Running r = start_child(w, self, {"--child"});
  Record rec;
  if (r.pid < 0 || !read_record(r.out, &rec, now_us() + 10e6) ||
      rec.tag != 'R') {
    fprintf(stderr, "%s: child did not start\n", w.name.c_str());
    finish(r);
    return r;
  }
  r.child = rec.pid;
  return r;
}

// ---- samples
// -----------------------------------------------------------------

struct Phase {
  std::vector<double> hup, term, term_exit, orphan_last, orphan_total;
  int failed = 0;
};

void sample_hup(Running& r, Phase& ph) {
  if (r.pid <= 0) return;
  Record rec;
  double t0 = now_us();
  kill(r.pid, SIGHUP);
  if (read_record(r.out, &rec, now_us() + 10e6) && rec.tag == 'H') {
    ph.hup.push_back(rec.t_us - t0);
  } else {
    ++ph.failed;
  }
}

void sample_term(const Wrapper& w, const std::string& self, Phase& ph) {
  Running r = start_ready(w, self);
  if (r.pid <= 0) {
    ++ph.failed;
    return;
  }
  settle(r.pid);
  Record rec;
  double t0 = now_us();
  kill(r.pid, SIGTERM);
  if (read_record(r.out, &rec, now_us() + 10e6) && rec.tag == 'T') {
    ph.term.push_back(rec.t_us - t0);
    reap(r.pid);
    ph.term_exit.push_back(now_us() - t0);
    r.pid = -1;
  } else {
    ++ph.failed;
  }
  finish(r);
}

void sample_orphans(const Wrapper& w, const std::string& self, int n,
                    Phase& ph) {
  Running r = start_child(w, self, {"--orphans", std::to_string(n)});
  std::vector<pid_t> orphans;
  auto fail = [&](const char* why) {
    fprintf(stderr, "%s: orphans: %s\n", w.name.c_str(), why);
    ++ph.failed;
    for (pid_t p : orphans) kill(p, SIGKILL);
    finish(r);
    for (auto& p : g_orphans) p = 0;
  };
  if (r.pid < 0) return fail("no start");
  bool ready = false;
  Record rec;
  while (!ready || static_cast<int>(orphans.size()) < n) {
    if (!read_record(r.out, &rec, now_us() + 30e6)) return fail("not ready");
    if (rec.tag == 'R') ready = true;
    if (rec.tag == 'O' && orphans.size() < kMaxOrphans) {
      g_orphans[orphans.size()] = rec.pid;
      orphans.push_back(rec.pid);
    }
  }
  settle(r.pid);
  double t0 = now_us();
  kill(r.pid, SIGTERM);
  int exited = 0;
  double last = 0;
  // Longer than byed's default --stop-timeout (30 s): a stop that slow shows
  // as a failure, not as a hang.
  double deadline = now_us() + 40e6;
  while (exited < n) {
    if (!read_record(r.out, &rec, deadline)) return fail("orphans left");
    if (rec.tag != 'X') continue;
    ++exited;
    last = std::max(last, rec.t_us);
    for (size_t i = 0; i < orphans.size(); ++i) {
      if (orphans[i] == rec.pid) orphans[i] = g_orphans[i] = 0;
    }
  }
  reap(r.pid);
  double end = now_us();
  r.pid = -1;
  ph.orphan_last.push_back(end - last);
  ph.orphan_total.push_back(end - t0);
  finish(r);
}

// ---- footprint
// ---------------------------------------------------------------

long proc_kb(pid_t pid, const char* file, const char* key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/" + file);
  std::string line;
  size_t k = strlen(key);
  while (std::getline(f, line)) {
    if (line.compare(0, k, key) == 0) return std::stol(line.substr(k));
  }
  return -1;
}

std::string which(const std::string& prog) {
  if (prog.find('/') != std::string::npos) return prog;
  const char* path = getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t b = 0;
  while (b <= dirs.size()) {
    size_t e = dirs.find(':', b);
    if (e == std::string::npos) e = dirs.size();
    std::string cand = dirs.substr(b, e - b) + "/" + prog;
    if (access(cand.c_str(), X_OK) == 0) return cand;
    b = e + 1;
  }
  return "";
}

// A binary just linked has dirty pages in the page cache, and smaps counts
// them as the process's private dirty memory until they are written back.
void write_back(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  fsync(fd);
  close(fd);
}

// Size of the binary after `strip` (Debian's packages ship stripped; byed's
// build is not).
long stripped_size(const std::string& path) {
  char dir[] = "/tmp/bench_core.XXXXXX";
  if (mkdtemp(dir) == nullptr) return -1;
  std::string out = std::string(dir) + "/bin";
  std::string cmd = "strip -o '" + out + "' '" + path + "' 2>/dev/null";
  long size = -1;
  struct stat st;
  if (system(cmd.c_str()) == 0 && stat(out.c_str(), &st) == 0) {
    size = st.st_size;
  }
  unlink(out.c_str());
  rmdir(dir);
  return size;
}

int host_processes() {
  int n = 0;
  DIR* d = opendir("/proc");
  if (d == nullptr) return -1;
  while (dirent* e = readdir(d))
    n += e->d_name[0] >= '1' && e->d_name[0] <= '9';
  closedir(d);
  return n;
}

std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

int env_int(const char* name, int def) {
  const char* v = getenv(name);
  return v && *v ? atoi(v) : def;
}

// ---- the run
// -------------------------------------------------------------------

struct Result {
  Phase quiet, crowded;
  std::vector<double> start;
  long rss = -1, dirty = -1, size = -1;
};

// One phase: rounds of HUP, TERM (and start-to-exit, when start is given),
// then the orphan runs.
void run_phase(std::vector<Wrapper>& ws, std::vector<Result>& res,
               const std::string& self, int runs, bool quiet) {
  std::vector<Running> hup(ws.size());
  for (size_t w = 0; w < ws.size(); ++w) {
    hup[w] = start_ready(ws[w], self);
    if (hup[w].pid > 0) settle(hup[w].pid);
    if (quiet && hup[w].pid > 0 && !ws[w].path.empty()) {
      res[w].rss = proc_kb(hup[w].pid, "status", "VmRSS:");
      res[w].dirty = proc_kb(hup[w].pid, "smaps_rollup", "Private_Dirty:");
    }
  }
  for (int i = 0; i < runs; ++i) {
    for (size_t w = 0; w < ws.size(); ++w) {
      Phase& ph = quiet ? res[w].quiet : res[w].crowded;
      sample_hup(hup[w], ph);
      sample_term(ws[w], self, ph);
      if (!quiet) continue;
      std::vector<std::string> argv = ws[w].prefix;
      argv.push_back("/bin/true");
      double t0 = now_us();
      pid_t q = spawn(argv, -1);
      if (q > 0) {
        reap(q);
        res[w].start.push_back(now_us() - t0);
      }
    }
  }
  for (auto& r : hup) finish(r);
  int orphans = env_int("BENCH_ORPHANS", 200);
  int orphan_runs = env_int("BENCH_ORPHAN_RUNS", 5);
  for (int i = 0; i < orphan_runs; ++i) {
    for (size_t w = 0; w < ws.size(); ++w) {
      if (!ws[w].waits_for_orphans) continue;
      sample_orphans(ws[w], self, orphans,
                     quiet ? res[w].quiet : res[w].crowded);
    }
  }
}

// ---- the table
// -----------------------------------------------------------------

struct Row {
  std::string label;
  std::function<double(const Result&)> value;
  const char* fmt;
};

double p(const std::vector<double>& v, double q, double scale = 1) {
  return v.empty() ? NAN : pct(v, q) / scale;
}
double num(long v) { return v < 0 ? NAN : static_cast<double>(v); }

void print_table(const std::vector<Wrapper>& ws, const std::vector<Result>& res,
                 int crowd) {
  std::string c = "crowded ";
  auto orph = [](const Phase& ph, double q) {
    return p(ph.orphan_last, q, 1000);
  };
  std::vector<Row> rows = {
      {"HUP -> handler p50 (us)",
       [](const Result& r) { return p(r.quiet.hup, .5); }, "%.0f"},
      {"HUP -> handler p99 (us)",
       [](const Result& r) { return p(r.quiet.hup, .99); }, "%.0f"},
      {"TERM -> handler p50 (us)",
       [](const Result& r) { return p(r.quiet.term, .5); }, "%.0f"},
      {"TERM -> handler p99 (us)",
       [](const Result& r) { return p(r.quiet.term, .99); }, "%.0f"},
      {"TERM -> wrapper exit p50 (us)",
       [](const Result& r) { return p(r.quiet.term_exit, .5); }, "%.0f"},
      {c + "HUP p50 (us)", [](const Result& r) { return p(r.crowded.hup, .5); },
       "%.0f"},
      {c + "HUP p99 (us)",
       [](const Result& r) { return p(r.crowded.hup, .99); }, "%.0f"},
      {c + "TERM p50 (us)",
       [](const Result& r) { return p(r.crowded.term, .5); }, "%.0f"},
      {c + "TERM p99 (us)",
       [](const Result& r) { return p(r.crowded.term, .99); }, "%.0f"},
      {c + "TERM -> exit p50 (us)",
       [](const Result& r) { return p(r.crowded.term_exit, .5); }, "%.0f"},
      {"orphans: last exit -> exit p50 (ms)",
       [&](const Result& r) { return orph(r.quiet, .5); }, "%.1f"},
      {"orphans: last exit -> exit max (ms)",
       [&](const Result& r) { return orph(r.quiet, 1); }, "%.1f"},
      {"orphans: TERM -> exit p50 (ms)",
       [](const Result& r) { return p(r.quiet.orphan_total, .5, 1000); },
       "%.1f"},
      {c + "orphans: last exit -> exit p50 (ms)",
       [&](const Result& r) { return orph(r.crowded, .5); }, "%.1f"},
      {c + "orphans: last exit -> exit max (ms)",
       [&](const Result& r) { return orph(r.crowded, 1); }, "%.1f"},
      {c + "orphans: TERM -> exit p50 (ms)",
       [](const Result& r) { return p(r.crowded.orphan_total, .5, 1000); },
       "%.1f"},
      {"WRAPPER -- /bin/true p50 (us)",
       [](const Result& r) { return p(r.start, .5); }, "%.0f"},
      {"WRAPPER -- /bin/true p99 (us)",
       [](const Result& r) { return p(r.start, .99); }, "%.0f"},
      {"idle RSS (KiB)", [](const Result& r) { return num(r.rss); }, "%.0f"},
      {"private dirty (KiB)", [](const Result& r) { return num(r.dirty); },
       "%.0f"},
      {"stripped binary (KiB)",
       [](const Result& r) { return r.size < 0 ? NAN : r.size / 1024.0; },
       "%.0f"},
  };
  int dumb = -1, tini_static = -1;
  for (size_t w = 0; w < ws.size(); ++w) {
    if (ws[w].name == "dumb-init") dumb = static_cast<int>(w);
    if (ws[w].name == "tini-static") tini_static = static_cast<int>(w);
  }
  auto cell = [](double v, const char* fmt) {
    char buf[32];
    if (std::isnan(v)) return std::string("-");
    snprintf(buf, sizeof buf, fmt, v);
    return std::string(buf);
  };
  printf("%-44s",
         ("crowded: +" + std::to_string(crowd) + " processes").c_str());
  for (auto& w : ws) printf(" %11s", w.name.c_str());
  printf(" %14s %16s\n", "byed/dumb-init", "byed/tini-static");
  for (const Row& row : rows) {
    printf("%-44s", row.label.c_str());
    for (const Result& r : res) {
      printf(" %11s", cell(row.value(r), row.fmt).c_str());
    }
    double b = row.value(res[0]);
    for (int o : {dumb, tini_static}) {
      double v = o < 0 ? NAN : row.value(res[o]);
      printf(o == dumb ? " %14s" : " %16s", cell(b / v, "%.2f").c_str());
    }
    printf("\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "--child") == 0) return child_main();
  if (argc > 2 && strcmp(argv[1], "--orphans") == 0) {
    return orphans_main(atoi(argv[2]));
  }
  if (argc < 2) {
    fprintf(stderr, "usage: bench_core BYED [RUNS] [NAME=PROGRAM ...]\n");
    return 2;
  }
  int runs = argc > 2 ? atoi(argv[2]) : 300;
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return 1;
  self[n] = '\0';
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) signal(sig, on_interrupt);
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, nullptr, _IOLBF, 0);

  std::vector<Wrapper> ws = {{"byed", {argv[1], "-q", "--"}, argv[1], true}};
  for (const char* t : {"tini", "tini-static"}) {
    std::string path = which(t);
    if (!path.empty()) ws.push_back({t, {path, "-s", "--"}, path, false});
  }
  std::string dumb = which("dumb-init");
  if (!dumb.empty()) ws.push_back({"dumb-init", {dumb}, dumb, false});
  for (int i = 3; i < argc; ++i) {
    const char* eq = strchr(argv[i], '=');
    if (eq == nullptr) continue;
    ws.push_back({std::string(static_cast<const char*>(argv[i]), eq),
                  {eq + 1, "--"},
                  which(eq + 1),
                  true});
  }
  ws.push_back({"(none)", {}, "", false});

  std::vector<Result> res(ws.size());
  for (size_t w = 0; w < ws.size(); ++w) {
    if (ws[w].path.empty()) continue;
    write_back(ws[w].path);
    res[w].size = stripped_size(ws[w].path);
  }
  int crowd_n = env_int("BENCH_CROWD", 2000);
  printf("runs per figure: %d (orphan runs: %d); load average at start: %s\n",
         runs, env_int("BENCH_ORPHAN_RUNS", 5), loadavg().c_str());
  int quiet_procs = host_processes();
  fprintf(stderr, "quiet phase...\n");
  run_phase(ws, res, self, runs, true);

  bench::Crowd crowd;
  std::string err;
  if (!crowd.start(crowd_n, 3600, &err)) {
    fprintf(stderr, "crowd: %s\n", err.c_str());
    kill_everything();
    return 1;
  }
  g_crowd = crowd.pgid();
  int crowded_procs = host_processes();
  printf(
      "host processes: %d quiet, %d crowded; load average before the "
      "crowded phase: %s\n",
      quiet_procs, crowded_procs, loadavg().c_str());
  fprintf(stderr, "crowded phase...\n");
  run_phase(ws, res, self, runs, false);
  g_crowd = 0;
  crowd.stop();
  printf("load average at end: %s\n", loadavg().c_str());
  int failed = 0;
  for (auto& r : res) failed += r.quiet.failed + r.crowded.failed;
  if (failed > 0) printf("failed samples: %d (see stderr)\n", failed);
  printf("\n");
  print_table(ws, res, crowd_n);
  printf(
      "\nratios: byed / peer, below 1.00 means byed is faster or smaller. "
      "Orphan rows: byed builds only (tini and dumb-init exit with their "
      "child and leave the orphans running). tini and dumb-init are "
      "dynamically linked: their size leaves out libc, their RSS and start "
      "include it.\n");
  return 0;
}
