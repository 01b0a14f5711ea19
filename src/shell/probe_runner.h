// probe_runner.h — runs `sh -c CMD` probes (--ready exec:, --health).
//
// A probe is byed's child in a process group of its own: it is no member of
// the generation it probes, so it gets none of its signals and is not waited
// for as part of it. Its stdout and stderr go to a pipe whose last line is
// reported (byed logs it at debug). The runner owns each probe's pid, pipe
// and timeout; when the timeout passes it kills the probe's group. What a
// probe's result means is the core's (ProbeDone).
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fd.h"
#include "supervisor.h"
#include "uv_handle.h"

namespace byed {

class ProbeRunner {
 public:
  using DoneFn = std::function<void(ProbeDone)>;
  ProbeRunner(uv_loop_t* loop, DoneFn done);
  ~ProbeRunner();
  ProbeRunner(const ProbeRunner&) = delete;
  ProbeRunner& operator=(const ProbeRunner&) = delete;

  // Starts the probe with `env` plus BYED_PID, BYED_GENERATION and
  // BYED_WORKER (the worker probed, with --workers). A probe
  // that cannot start is reported done (not ok) at once.
  void start(const RunProbe& probe, std::vector<std::string> env);
  // A reaped child: true (and the probe reported) if it was a probe.
  bool reaped(pid_t pid, int wait_status);
  // Kills the probes of generation `gen` (0: all) that still run, of its
  // worker `worker` (-1: all its workers).
  void stop(int gen, int worker);

 private:
  struct Running {
    ProbeRunner* runner = nullptr;
    RunProbe probe;
    UniqueFd output;
    UvHandle<uv_poll_t> output_poll;  // drained as it comes
    std::string tail;                 // the last 4 KiB it wrote
    UvHandle<uv_timer_t> timeout;
    bool timed_out = false;
  };
  uv_loop_t* loop_;
  DoneFn done_;
  std::map<pid_t, std::unique_ptr<Running>> running_;
};

}  // namespace byed
