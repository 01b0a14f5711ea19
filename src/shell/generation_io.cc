// generation_io.cc — one generation's process and the fds it reports
// through (Runtime::GenIo): spawning it with its UPGRADE_FD pipe, its own
// NOTIFY_SOCKET and its --log-child pipes; reading whether exec worked, the
// ready byte and notify datagrams; and draining all of it when it exits.
// What a datagram means is the core's (notify_message.h); here it is only
// received and its sender checked.
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <cerrno>

#include "loop.h"
#include "notify.h"
#include "notify_message.h"
#include "spawn.h"

namespace byed {

void Runtime::do_spawn(const SpawnGeneration& a) {
  const int gen = a.gen;
  SpawnRequest req;
  req.argv = config_.command;
  req.env = child_env_;
  if (a.workers > 0) {
    req.env.push_back("BYED_WORKER=" + std::to_string(a.worker));
    req.env.push_back("BYED_WORKERS=" + std::to_string(a.workers));
  }
  req.ignored = ignored_signals_;
  req.watchdog_usec = config_.systemd_watchdog_usec;
  // Only when byed's own group holds the terminal: never steal it from a
  // shell that put byed in the background.
  req.take_terminal = a.take_terminal && own_foreground_terminal();
  req.new_session = a.new_session;
  for (const HeldSocket& s : sockets_) {
    req.listen_fds.push_back(s.fd.get());
    req.listen_names.push_back(s.name);
  }
  auto io = std::make_unique<GenIo>();
  io->runtime = this;
  io->gen = gen;
  io->worker = a.worker;
  // UPGRADE_FD: the write end goes to the child, we keep the read end.
  int p[2];
  UniqueFd ready_write;
  if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0) {
    io->ready_read.reset(p[0]);
    ready_write.reset(p[1]);
    // The child's end blocks, as a pipe it inherits normally would (if it
    // cannot, a one-byte write into an empty pipe still never blocks).
    if (fcntl(p[1], F_SETFL, 0) != 0) {
      log(LogLevel::kWarn, "ready pipe: cannot make the child's end blocking",
          {{"error", strerror(errno)}});
    }
    req.upgrade_fd = ready_write.get();
  } else {
    log(LogLevel::kError, "ready pipe", {{"error", strerror(errno)}});
  }
  NotifyEndpoint ep;
  std::string err;
  if (open_notify_endpoint(gen, &ep, &err)) {
    io->notify = std::move(ep.fd);
    req.env.push_back("NOTIFY_SOCKET=" + ep.address);
  } else {
    log(LogLevel::kError, err);
  }

  ChildPipes pipes;
  if (child_output_ && !child_output_->make_pipes(&pipes, &err)) {
    log(LogLevel::kError, err);  // the child writes to byed's own then
  }
  req.stdout_fd = pipes.out_write.get();
  req.stderr_fd = pipes.err_write.get();

  SpawnedChild child;
  if (!spawn_child(req, &child, &err)) {
    dispatch(Spawned{gen, -1, err, a.worker});
    return;
  }
  ready_write.reset();  // only the child holds the write end now
  if (child_output_) child_output_->attach(gen, child.pid, std::move(pipes));
  io->pid = child.pid;
  io->exec_status = std::move(child.exec_status);
  if (req.take_terminal) terminal_pgid_ = child.pid;
  GenIo& g = *io;
  gen_io_[child.pid] = std::move(io);
  dispatch(Spawned{gen, child.pid, "", a.worker});
  watch(g, g.exec_status, g.exec_poll);
  watch(g, g.ready_read, g.ready_poll);
  watch(g, g.notify, g.notify_poll);
}

// Starts watching one of a generation's fds; on failure the fd is dropped
// (the generation can still be ready by the other way, or by time).
bool Runtime::watch(GenIo& io, UniqueFd& fd, UvHandle<uv_poll_t>& poll) {
  if (!fd) return false;
  int rc = poll.init(uv_poll_init, &loop_, &io, fd.get());
  if (rc == 0) {
    // Which of the generation's handles fired tells which fd to read.
    rc = uv_poll_start(poll.get(), UV_READABLE, [](uv_poll_t* h, int, int) {
      auto* g = static_cast<GenIo*>(h->data);
      Runtime* r = g->runtime;
      if (h == g->exec_poll.get()) {
        r->read_exec_status(*g);
      } else if (h == g->ready_poll.get()) {
        r->read_ready_pipe(*g);
      } else {
        r->read_notify(*g);
      }
    });
  }
  if (rc != 0) {
    log(LogLevel::kError, "cannot watch a generation's fd",
        {{"gen", std::to_string(io.gen)}, {"error", uv_strerror(rc)}});
    poll.reset();
    fd.reset();
    return false;
  }
  return true;
}

// The child's exec-error pipe: EOF once exec succeeded, or why it failed.
void Runtime::read_exec_status(GenIo& io) {
  std::string err;
  ExecStatus s = byed::read_exec_status(io.exec_status.get(),
                                        config_.command.front(), &err);
  if (s == ExecStatus::kPending) return;
  io.exec_poll.reset();
  io.exec_status.reset();
  dispatch(Exec{io.gen, s == ExecStatus::kRan ? "" : err, io.worker});
}

// A byte on UPGRADE_FD: ready (bye's protocol, once per pid). Later bytes
// are read and dropped, so a chatty child never blocks on a full pipe.
void Runtime::read_ready_pipe(GenIo& io) {
  char buf[4096];
  bool got = false;
  for (int i = 0; i < 16; ++i) {  // bounded: a flood cannot starve the loop
    ssize_t n = ::read(io.ready_read.get(), buf, sizeof buf);
    if (n > 0) {
      got = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {  // every writer closed it
      io.ready_poll.reset();
      io.ready_read.reset();
    }
    break;
  }
  if (got && !io.ready_said) {
    io.ready_said = true;
    dispatch(ChildReady{io.gen, "pipe", io.worker});
  }
}

// Datagrams on this generation's NOTIFY_SOCKET. A message from a process of
// this generation goes to the core as what it means; anything from outside
// it is logged (debug) and dropped.
void Runtime::read_notify(GenIo& io) {
  NotifyDatagram d;
  for (int i = 0; i < 64 && receive_notify(io.notify.get(), d); ++i) {
    if (!sender_in_generation(d, io.pid, getpid(), geteuid())) {
      log(LogLevel::kDebug,
          "notify message from outside the generation ignored",
          {{"gen", std::to_string(io.gen)},
           {"sender", std::to_string(d.sender)}});
      continue;
    }
    const NotifyMessage m = parse_notify_message(d.text);
    if (m.ready) dispatch(ChildReady{io.gen, "notify", io.worker});
    if (auto said = child_said(m, io.gen)) {
      said->worker = io.worker;
      dispatch(std::move(*said));
    }
  }
}

bool Runtime::drain_generation(int pid) {
  auto io = gen_io_.find(pid);
  if (io == gen_io_.end()) return false;
  // A generation that said "ready" (or failed to exec) and exited at once:
  // its words are heard before its death.
  GenIo& g = *io->second;
  if (g.exec_status) read_exec_status(g);
  if (g.ready_read) read_ready_pipe(g);
  if (g.notify) read_notify(g);
  if (child_output_) child_output_->drain(pid);  // its last lines first
  gen_io_.erase(io);
  return true;
}

}  // namespace byed
