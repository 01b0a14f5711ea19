// supervisor.h — the pure core: generations, their states, events -> actions.
//
// Supervisor knows nothing of libuv or syscalls (it is built into the pure
// library, which does not link libuv). The shell (loop.cc) turns each OS
// event into an Event, calls on() with the time it happened, and carries out
// the Actions it gets back in order. Every rule of the contract that is a
// decision — which generation a signal goes to, when a generation is ready,
// how an upgrade hands over or rolls back, what a control request does, when
// to SIGKILL, which exit code byed returns — lives here and is unit tested
// without starting a process. The status `byed ctl status` shows is read
// from here too: one owner for states, times and the last upgrade.
//
// A generation is one run of the program: one process, or with --workers
// N processes (workers), each the leader of its own process group. It is
// starting (spawned, not yet ready), ready (the current one, target of
// forwarded signals), draining (replaced, told to stop) or gone. A stop or
// drain signal goes to each worker's leader, and to what is left of its
// group once the leader has gone; the kill after --stop-timeout goes to
// the group; and byed does not end while anything of a worker's group, or
// any orphan it adopted, still runs. An upgrade starts generation N+1
// beside the current one (all its workers, or --upgrade-batch at a time);
// when N+1 is ready the old one is drained; when N+1 dies or is not ready
// in time, it is stopped and the old one keeps serving, untouched. byed's
// own phase (starting, serving, upgrading, stopping, ...) is one type,
// Phase, below.
#pragma once

#include <time.h>

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "config.h"
#include "log_record.h"
#include "signals.h"

namespace byed {

// ---- events ---------------------------------------------------------------

// What the shell found at start: whether byed has a controlling terminal
// (job control to keep; else each generation gets a session of its own),
// and the signals ignored by whoever started byed (they stay ignored).
struct Start {
  bool terminal = false;
  std::vector<int> ignored;
};
struct SignalReceived {
  int sig;
  // The shell already sent route(sig)'s signals (Supervisor::route): the
  // core does the rest of what the signal means, without sending them again.
  bool routed = false;
};
// A request on the control socket, from connection `conn`.
enum class Command { kStatus, kUpgrade, kStop, kWorkers };
using ConnId = uint64_t;
struct ControlRequest {
  ConnId conn;
  Command cmd;
  int count = 0;  // kWorkers: the new number of workers
};
// The shell forked worker `worker` of generation `gen` as `pid`. pid < 0:
// fork itself failed, and error says why. (Without --workers a generation
// is one process: worker 0.)
struct Spawned {
  int gen;
  int pid;
  std::string error;
  int worker = 0;
};
// The child of generation `gen` ran its program (error empty), or could not
// (error says why; the child then exits 126/127 and ChildExited follows).
struct Exec {
  int gen;
  std::string error;
  int worker = 0;
};
// waitpid() returned this pid with this raw wait status. Orphans reaped as
// PID 1 or subreaper arrive here too. group_alive: for a generation's
// leader, whether its process group still has members; children_left:
// whether byed still has any child after this one.
// had_terminal: the pid led the group byed had made the terminal's
// foreground (a Ctrl-C from the keyboard reached it, not byed).
struct ChildExited {
  int pid;
  int wait_status;
  bool group_alive = false;
  bool children_left = false;
  bool had_terminal = false;
};
// What was left of a worker's process group is gone.
struct GroupEmpty {
  int gen;
  int worker = 0;
};
// A child was stopped by `sig` (waitpid WUNTRACED): job control.
struct ChildStopped {
  int pid;
  int sig;
};
// A stopped child continued (waitpid WCONTINUED).
struct ChildContinued {
  int pid;
};
// What a ProbeAccepting found for generation `gen`: every socket asked for
// is waited on (`via` says which, how, by whom), or not yet, or it cannot
// be known here (`via` says why).
struct AcceptingProbed {
  int gen;
  enum class Result { kNotYet, kAccepting, kUnknown } result;
  std::string via;
  int worker = 0;
};
// A probe (`sh -c CMD` of --ready exec: or --health) of generation `gen`
// ended: ok when it exited 0; detail is its status or why it did not run.
enum class ProbeKind { kReady, kHealth };
struct ProbeDone {
  int gen;
  ProbeKind kind;
  int index;  // which --ready exec: rule (0 for health)
  bool ok;
  std::string detail;
  int worker = 0;
};
// Generation `gen` said it is ready: "pipe" (a byte on UPGRADE_FD) or
// "notify" (READY=1 on its NOTIFY_SOCKET, from a process of that generation).
struct ChildReady {
  int gen;
  std::string via;
  int worker = 0;
};
// What else a generation said on its NOTIFY_SOCKET (from a process of it):
// WATCHDOG=1, WATCHDOG=trigger, STATUS=, EXTEND_TIMEOUT_USEC=.
struct ChildSaid {
  int gen = 0;
  bool watchdog = false;
  bool watchdog_trigger = false;
  std::optional<std::string> status;
  uint64_t extend_timeout_usec = 0;
  int worker = 0;
};
// The signals generation `gen`'s leader `pid` has handlers for (SigCgt),
// read when the core asked (ReadCaughtSignals). Not sent when it cannot be
// read (the process is gone).
struct SignalsCaught {
  int gen;
  int pid;
  uint64_t mask;
};
// An entry appeared in EXIT_DIR (already filtered: not ours, not a temp).
struct ExitDirEntry {
  std::string name;
};
// An entry is in --ready-dir (present at the first scan, or appeared).
struct ReadyDirEntry {
  std::string name;
};

enum class TimerKind {
  kStopKill,      // gen 0: stop-timeout after a stop, for everything left
  kDrainKill,     // stop-timeout for one drained or failed generation
  kReadyTimeout,  // --ready-timeout for a starting generation
  kReadyDelay,    // --ready DUR / auto's 1 s for a starting generation
  kRestart,       // gen 0: the back-off before a restart
  kWatchdog,      // --watchdog: the serving generation's silence
  kAcceptProbe,   // next look at whether a starting generation accepts
  kSettle,        // --ready-settle: an upgrade's new generation stayed ready
  kReadyProbe,    // next --ready exec: probe of a starting generation
  kHealth,        // next --health probe of the serving generation
  kStopDelay,     // gen 0: --stop-delay over, forward the stop signal
  kWaitFor,       // gen 0: --wait-for-timeout
};
struct TimerId {
  TimerKind kind;
  int gen;
  int worker = 0;
  bool operator==(const TimerId& o) const {
    return kind == o.kind && gen == o.gen && worker == o.worker;
  }
  bool operator<(const TimerId& o) const {
    if (kind != o.kind) return kind < o.kind;
    return gen != o.gen ? gen < o.gen : worker < o.worker;
  }
};
struct TimerFired {
  TimerId id;
};

using Event =
    std::variant<Start, SignalReceived, ControlRequest, Spawned, Exec,
                 ChildExited, GroupEmpty, ChildStopped, ChildContinued,
                 ChildReady, ChildSaid, ExitDirEntry, ReadyDirEntry, TimerFired,
                 AcceptingProbed, ProbeDone, SignalsCaught>;

// When an event happened: the wall clock (status, markers) and a monotonic
// one in milliseconds (back-off and restart windows).
struct Now {
  timespec real{};
  int64_t mono_ms = 0;
  Now() = default;
  Now(const timespec& r, int64_t mono) : real(r), mono_ms(mono) {}
  // Tests: one clock for both.
  Now(const timespec& r)  // NOLINT(google-explicit-constructor)
      : real(r),
        mono_ms(static_cast<int64_t>(r.tv_sec) * 1000 + r.tv_nsec / 1000000) {}
};

// ---- actions --------------------------------------------------------------

// take_terminal: the new generation is to own the terminal at once (the
// first one, when byed's own group owns it: nothing else serves yet).
// new_session: no terminal, so the generation gets a session of its own
// (the scheduler's autogroups then treat it as its own job).
// worker: which of the generation's processes; workers: BYED_WORKERS for
// its environment (with BYED_WORKER=worker), 0 without --workers.
struct SpawnGeneration {
  int gen;
  bool take_terminal = false;
  bool new_session = false;
  int worker = 0;
  int workers = 0;
};
// Each generation leads its own process group, whose id is its leader's pid.
enum class Target {
  kProcess,           // kill(pid, sig)
  kGroup,             // kill(-pid, sig): the leader is gone, not its group
  kGroupThenProcess,  // kill(-pid, sig), else kill(pid, sig)
};
struct SendSignal {
  int pid;
  int sig;
  Target target = Target::kProcess;
};
// What a signal sends at once, decided by the core before the signal comes
// (Supervisor::route): the shell sends these the moment it reads the
// signal, then gives the core the signal (SignalReceived::routed) for the
// rest — logs, timers, orphans, systemd — once the program had its turn
// (kRoutedFollowUp). Empty: no such shortcut; the signal goes to the core
// first, as every other event does.
struct SignalRoute {
  static constexpr int kMax = 8;  // more workers than this: no shortcut
  int count = 0;
  SendSignal sends[kMax]{};
};
// How long the rest of a routed signal may wait for the loop to be woken
// by something else: the program the signal woke gets the CPU first.
constexpr Millis kRoutedFollowUp{1};
// Orphans byed adopted (as PID 1 or subreaper) that belong to no
// generation: every child of byed outside these process groups.
struct SignalOrphans {
  int sig;
  std::vector<int> generation_groups;
};
// Report GroupEmpty{gen} once process group `pgid` has no member left.
struct WatchGroup {
  int gen;
  int pgid;
  int worker = 0;
};
// Job control: stop byed itself (SIGSTOP), as the job its shell sees.
struct StopSelf {};
// The terminal's foreground group becomes `pgid` (0: byed's own), if byed's
// own group or one of its generations' holds it now.
struct GiveTerminal {
  int pgid;
};
// Look whether generation `gen` (leader and group `pid`) waits on the held
// sockets named (empty: all); answered by AcceptingProbed.
struct ProbeAccepting {
  int gen;
  int pid;
  std::vector<std::string> names;
  int worker = 0;
};
// Run `sh -c cmd` as a probe of generation `gen` (outside its group, no
// forwarded signal), killed after `timeout`; answered by ProbeDone.
struct RunProbe {
  int gen;
  int pid;
  ProbeKind kind;
  int index;
  std::string cmd;
  Millis timeout;
  int worker = 0;
};
// Read which signals generation `gen`'s leader `pid` catches; answered by
// SignalsCaught.
struct ReadCaughtSignals {
  int gen;
  int pid;
};
// Kill the probes of generation `gen` that still run (0: every probe),
// of its worker `worker` (-1: of all its workers).
struct StopProbes {
  int gen;
  int worker = -1;
};
struct ArmTimer {
  TimerId id;
  Millis after;
};
struct CancelTimer {
  TimerId id;
};
struct Log {
  LogRecord record;
};
// To byed's own NOTIFY_SOCKET, if it has one: the state change and a STATUS=
// line. The shell adds what only it knows: MAINPID= (byed's pid) to kReady,
// MONOTONIC_USEC= (the clock) to kReloading.
struct NotifySystemd {
  // The order is notify_state_line's table.
  enum class State {
    kNone,
    kReady,
    kReloading,
    kStopping,
    kWatchdog,         // the serving generation's WATCHDOG=1, relayed
    kWatchdogTrigger,  // its WATCHDOG=trigger, relayed
  };
  State state = State::kNone;
  std::string status;                // empty: no STATUS= line
  uint64_t extend_timeout_usec = 0;  // EXTEND_TIMEOUT_USEC=, relayed
};
// The protocol line of a state: "READY=1", ... (null for kNone).
const char* notify_state_line(NotifySystemd::State state);
// PIDFILE (when one is set): byed's own pid, written once the first
// generation is ready.
struct WritePidfile {};
// --ready-dir: leave NAME.ready there (the first generation is ready).
struct WriteReadyMarker {};
// --wait-for: watch --ready-dir; each entry comes as a ReadyDirEntry.
struct WatchReadyDir {};
// Leader: leave NAME.exit in EXIT_DIR for the generation that ended.
struct WriteExitMarker {
  int gen;
  int pid;
  int wait_status;
  timespec started_at;
};
// How one upgrade ended: for `byed ctl upgrade` and `byed ctl status`.
struct UpgradeResult {
  bool ok = false;
  int gen = 0;
  int pid = 0;         // the new generation's, when ok
  std::string reason;  // empty when ok
  int upgraded = 0;    // workers of the new generation that took over
  int workers = 0;     // of how many (0: one process, no --workers)
  timespec started_at{};
  timespec finished_at{};
};
// Control replies. The shell turns each into the protocol's JSON line.
struct ReplyStatus {
  ConnId conn;
};
struct ReplyUpgrade {
  ConnId conn;
  UpgradeResult result;
};
// "stopping": the connection then stays open until byed exits, so that its
// EOF tells the client byed is gone.
struct ReplyStopping {
  ConnId conn;
};
struct ReplyError {
  ConnId conn;
  std::string message;
};
// `byed ctl workers N` is carried out: N workers run and are ready.
struct ReplyWorkers {
  ConnId conn;
  int workers;
};
struct ExitProcess {
  int code;
};

using Action =
    std::variant<SpawnGeneration, SendSignal, SignalOrphans, WatchGroup,
                 StopSelf, GiveTerminal, ProbeAccepting, RunProbe, StopProbes,
                 ArmTimer, CancelTimer, Log, NotifySystemd, WritePidfile,
                 WriteReadyMarker, WatchReadyDir, WriteExitMarker, ReplyStatus,
                 ReplyUpgrade, ReplyStopping, ReplyError, ReplyWorkers,
                 ExitProcess, ReadCaughtSignals>;

// ---- the core -------------------------------------------------------------

// 0..255 for a normal exit, 128+N for death by signal N.
int exit_code_from_wait_status(int wait_status);
// "exit code 3", "killed by signal TERM".
std::string describe_wait_status(int wait_status);

// byed's own phase: what it is doing as a whole. Exactly one holds; each
// handler switches on it, and the data a phase needs lives in it.
namespace phase {
struct Idle {};      // before Start
struct Waiting {};   // --wait-for: the program is not started yet
struct Starting {};  // the current generation is not ready yet (the first,
                     // or one a restart started)
struct Serving {};   // the current generation is ready
// A new generation starts beside the serving one.
struct Upgrading {
  int gen = 0;
  int started = 0;            // its workers started so far (--upgrade-batch)
  int handed = 0;             // of them, the ones that took over
  bool serving_lost = false;  // the serving generation ended meanwhile
};
struct Restarting {};  // the back-off before the next generation
struct StopDelay {     // --stop-delay: still serving, the stop comes later
  int sig = 0;
};
struct Stopping {  // every generation was told to stop
  int sig = 0;     // the last stop signal: for orphans found later
};
struct Exited {};
}  // namespace phase
using Phase = std::variant<phase::Idle, phase::Waiting, phase::Starting,
                           phase::Serving, phase::Upgrading, phase::Restarting,
                           phase::StopDelay, phase::Stopping, phase::Exited>;
// "starting", "serving", ... for status and tests.
const char* phase_name(const Phase& p);

// What `byed ctl status` shows, as the core sees it: the shell only
// serialises it.
struct StatusView {
  struct WorkerView {
    int index = 0;
    int pid = 0;
    std::string state;  // starting, ready, draining, exited, restarting
    int restarts = 0;
  };
  struct GenerationView {
    int num = 0;
    int pid = 0;  // worker 0's
    std::string state;
    bool current = false;
    timespec started_at{};
    timespec ready_at{};  // zero until ready
    std::vector<WorkerView> workers;
  };
  std::string phase;
  bool stopping = false;
  bool upgrading = false;
  int workers = 0;  // the target; 0 without --workers
  std::vector<GenerationView> generations;
  std::optional<UpgradeResult> last_upgrade;
  int restarts = 0;
  std::string last_restart_reason;
  std::optional<timespec> next_restart_at;
};

class Supervisor {
 public:
  enum class GenState { kStarting, kReady, kDraining, kExited };
  // One process of a generation: its leader and process group. Without
  // --workers a generation has one.
  struct Worker {
    int index = 0;
    int pid = -1;
    GenState state = GenState::kStarting;  // kReady: its rules hold
    bool spawned = false;
    std::string error;  // exec error, for the failure reason
    timespec started_at{};
    bool lingering = false;  // leader gone, members of its group left
    int stop_signal = 0;     // the stop or drain signal it was sent
    bool hung = false;       // health or watchdog: being killed
    int64_t ready_mono = -1;
    int restarts = 0;              // replaced this many times
    bool restart_pending = false;  // waiting out its back-off
    int backoff_steps = 0;         // its restarts since it stayed ready
    int health_failures = 0;       // --health probes failed in a row
    // What it has shown while starting, against the --ready rules.
    bool said_ready = false;    // a pipe byte or READY=1
    std::string said_via;       // "pipe" or "notify"
    bool alive_enough = false;  // alive for the --ready duration
    bool accepting = false;     // seen waiting on the held sockets
    std::string accepting_via;  // how
    int accept_probes = 0;      // looks so far: the next comes later
    int64_t ran_mono = -1;      // when its program started running
    bool hinted = false;        // "not waiting on the sockets yet" said
    std::vector<bool> exec_ok;  // per --ready exec: rule
    bool stopped = false;       // stopped by a signal: never ready then
    std::string ready_via;      // what made it ready
    bool alive() const { return state != GenState::kExited || lingering; }
    bool live() const { return pid > 0 && state != GenState::kExited; }
    // Something of it a signal can reach: its leader, or its group.
    bool reachable() const { return pid > 0 && alive(); }
  };
  // One run of the program: its workers, started together.
  struct Generation {
    int num = 0;
    GenState state = GenState::kStarting;
    timespec started_at{};
    timespec ready_at{};     // zero until ready
    bool failed = false;     // not ready in time, or hung: a failure
    bool restarted = false;  // started by --restart, not by an upgrade
    bool settling = false;   // ready; --ready-settle not over yet
    std::string ready_via;   // what made it ready
    int64_t ready_mono = -1;
    std::vector<Worker> workers;         // by index; a replaced one may linger
    std::vector<int64_t> restart_times;  // its workers' restarts (mono ms)
    int pid() const { return workers.empty() ? -1 : workers[0].pid; }
    bool alive() const;
    Worker* worker(int index);  // the newest entry for `index`
    const Worker* worker(int index) const;
  };

  explicit Supervisor(Config config);

  std::vector<Action> on(const Event& event, const Now& now = {});

  // Read-only view for status and tests.
  const std::vector<Generation>& generations() const { return gens_; }
  const Phase& phase() const { return phase_; }
  int current() const { return current_; }
  int upgrading() const;
  bool stopping() const;
  bool exited() const;
  StatusView status() const;
  // What signal `sig` sends at once in the state the last event left: the
  // SendSignal actions on(SignalReceived{sig}) would begin with, and no
  // others. Kept for every signal after each event.
  const SignalRoute& route(int sig) const;

 private:
  // Signal numbers: 1..64 on Linux (SIGRTMAX).
  static constexpr int kSignals = 65;
  std::vector<Action> on_start(const Start& e);
  std::vector<Action> on_signal(int sig);
  std::vector<Action> on_control(const ControlRequest& r);
  std::vector<Action> on_spawned(const Spawned& e);
  std::vector<Action> on_exec(const Exec& e);
  std::vector<Action> on_exited(const ChildExited& e);
  std::vector<Action> on_group_empty(const GroupEmpty& e);
  std::vector<Action> on_stopped(const ChildStopped& e);
  std::vector<Action> on_continued(const ChildContinued& e);
  std::vector<Action> on_accepting(const AcceptingProbed& e);
  std::vector<Action> on_probe_done(const ProbeDone& e);
  std::vector<Action> on_ready(const ChildReady& e);
  std::vector<Action> on_said(const ChildSaid& e);
  std::vector<Action> on_timer(const TimerId& id);
  std::vector<Action> on_exit_dir(const ExitDirEntry& e);
  std::vector<Action> on_ready_dir(const ReadyDirEntry& e);
  std::vector<Action> on_signals_caught(const SignalsCaught& e);
  void end_without_child(std::vector<Action>& out, int code,
                         const std::string& why);
  void exit_now(std::vector<Action>& out, int code, const std::string& reason);

  // Generations and workers.
  void start_generation(std::vector<Action>& out, int gen, int workers);
  void spawn_worker(std::vector<Action>& out, Generation& g, int index);
  Generation* find_gen(int num);
  Worker* find_worker(int gen, int index);
  std::pair<Generation*, Worker*> find_pid(int pid);
  bool any_alive() const;
  int worker_count() const;  // the target: 1 without --workers

  // Readiness.
  void check_ready(std::vector<Action>& out, Generation& g, Worker& w);
  void check_generation_ready(std::vector<Action>& out, Generation& g);
  void hand_over_batch(std::vector<Action>& out, Generation& g);
  void become_ready(std::vector<Action>& out, Generation& g);
  bool wants_accepting() const;
  bool wants_alive(const Worker& w) const;
  void arm_alive(std::vector<Action>& out, const Generation& g,
                 const Worker& w);
  void run_ready_probe(std::vector<Action>& out, const Generation& g,
                       const Worker& w);
  void cancel_ready_timers(std::vector<Action>& out, int gen, int worker);
  void fail_starting(std::vector<Action>& out, Generation& g,
                     const std::string& reason);
  std::string workers_line(const Generation& g) const;
  void workers_status(std::vector<Action>& out, const Generation& g);

  // Upgrades and the number of workers.
  void request_upgrade(std::vector<Action>& out, const std::string& source);
  void start_upgrade(std::vector<Action>& out);
  void finish_upgrade(std::vector<Action>& out, UpgradeResult result);
  void run_queued_upgrade(std::vector<Action>& out);
  void abandon_upgrade(std::vector<Action>& out, bool drain_new);
  void set_workers(std::vector<Action>& out, ConnId conn, int n,
                   bool stopping_now);
  void check_workers_waiters(std::vector<Action>& out);

  // Signals and stopping.
  int forwarded_as(int sig) const;
  Target forward_target() const;
  void forward(std::vector<Action>& out, int sig, Target target);
  void forward_sends(std::vector<SendSignal>& out, int sig,
                     Target target) const;
  SendSignal stop_send(const Worker& w, int sig, Target target) const;
  bool stop_sends_now() const;
  bool starts_stop_delay() const;
  void update_routes();
  void request_stop(std::vector<Action>& out, int sig,
                    const std::string& source);
  void begin_stop(std::vector<Action>& out, int sig);
  void stop_worker(std::vector<Action>& out, const Generation& g, Worker& w,
                   int sig, Target target);
  void drain(std::vector<Action>& out, Generation& g, int sig);
  void kill_worker(std::vector<Action>& out, const Generation& g,
                   const Worker& w);
  std::vector<int> live_groups() const;
  void signal_new_orphans(std::vector<Action>& out);
  void stop_job(std::vector<Action>& out);

  // Ends and restarts.
  void record_ending(const Generation& g, const Worker& w, int wait_status);
  void worker_ended(std::vector<Action>& out, Generation& g, Worker& w,
                    int wait_status);
  void replace_worker(std::vector<Action>& out, Generation& g, Worker& w,
                      int wait_status, bool others);
  void end_serving(std::vector<Action>& out, Generation& g, int wait_status);
  bool is_success(int wait_status) const;
  bool wants_restart(bool failed, int wait_status) const;
  bool within_restart_limit(std::vector<Action>& out,
                            std::vector<int64_t>& times, int gen,
                            const std::string& reason);
  Millis next_backoff(int& steps, int64_t ready_mono) const;
  bool schedule_restart(std::vector<Action>& out, Generation& g,
                        int wait_status);
  void hung(std::vector<Action>& out, Generation& g, Worker& w,
            const std::string& why);
  void maybe_exit(std::vector<Action>& out);

  void log(std::vector<Action>& out, LogLevel level, int gen, std::string msg,
           LogFields fields = {}) const;
  void debug(std::vector<Action>& out, int gen, std::string msg,
             LogFields fields = {}) const;
  LogFields worker_fields(const Worker& w, LogFields more = {}) const;

  const Config cfg_;
  Now now_;  // of the event being handled
  Phase phase_;
  std::vector<Generation> gens_;  // live ones, and the current one
  int last_gen_ = 0;
  int current_ = 0;  // the generation that receives forwarded signals
  int workers_ = 0;  // --workers, changed by `byed ctl workers`; 0: none
  bool upgrade_pending_ = false;          // one more requested meanwhile
  std::vector<ConnId> upgrade_waiters_;   // answered when the upgrade ends
  std::vector<ConnId> workers_waiters_;   // answered when the count holds
  std::vector<std::string> waiting_for_;  // --wait-for entries not seen yet
  std::vector<int> ignored_;              // ignored at start: stay ignored

  // What byed has learned along the way.
  bool terminal_ = false;           // byed has a controlling terminal
  bool ever_messaged_ = false;      // some generation sent a readiness message
  bool accepting_unknown_ = false;  // accepting cannot be seen here
  bool first_ready_ = false;        // some generation has been ready
  bool warned_caught_ = false;  // said the program catches the upgrade signal
  bool upgraded_ = false;       // an upgrade has succeeded
  bool children_ = false;       // byed has a child (as far as the shell said)
  bool stopped_by_exit_dir_ = false;

  // Restarts: the burst window and the back-off.
  int backoff_steps_ = 0;
  std::vector<int64_t> restart_times_;  // mono ms, within the interval
  int restart_count_ = 0;
  std::string last_restart_reason_;
  std::optional<timespec> next_restart_at_;

  // How byed ends: the current generation's last status, or a code forced
  // by a failure, and why.
  struct Ending {
    std::optional<int> status;  // wait status of the current generation
    int pid = 0;
    timespec started_at{};
    std::string error;               // its exec error, if any
    std::optional<int> forced_code;  // e.g. 1: first generation not ready
    std::string forced_reason;
    std::string stop_reason;  // who asked for the stop
  } ending_;
  std::optional<UpgradeResult> last_upgrade_;

  // route(): per signal, what it sends at once.
  SignalRoute routes_[kSignals]{};
};

}  // namespace byed
