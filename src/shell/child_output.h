// child_output.h — the pipes of --log-child tag|json|journal, and the writes.
//
// Owns each generation's stdout and stderr pipes (the read ends; the write
// ends go to the child at spawn), reads them in the loop, cuts the bytes into
// lines (child_log.h) and writes each line whole to byed's own stdout or
// stderr, or sends it to the journal. Writes never block the loop: a stdout
// or stderr that is a pipe or a terminal is reopened non-blocking (a new
// open file description, so the flag never leaks to whoever shares it), a
// socket is written with MSG_DONTWAIT. What cannot be written yet waits in a
// bounded queue; once a queue is full byed stops reading the pipes feeding
// it, so the children block on their own writes (backpressure) and byed does
// not grow. byed's own records go through the same stderr queue, so they are
// never cut into a child's line either.
#pragma once

#include <uv.h>

#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "child_log.h"
#include "fd.h"
#include "uv_handle.h"

namespace byed {

// One generation's stdout and stderr: the write ends for the child, the
// read ends for byed.
struct ChildPipes {
  UniqueFd out_read, out_write, err_read, err_write;
};

class ChildOutput {
 public:
  using Warn = std::function<void(const std::string&)>;
  // mode: kTag, kJson or kJournal (auto already resolved). `warn` reports a
  // problem once (the journal gone, an output closed).
  ChildOutput(uv_loop_t* loop, ChildLogMode mode, std::string name, Warn warn);
  ~ChildOutput();
  ChildOutput(const ChildOutput&) = delete;
  ChildOutput& operator=(const ChildOutput&) = delete;

  // kJournal: connects to the journal's socket at `path`. On failure the
  // lines go to the streams as tag would write them, and *err says why.
  bool connect_journal(const std::string& path, std::string* err);

  // Two pipes for a new generation.
  bool make_pipes(ChildPipes* pipes, std::string* err);
  // Starts reading a spawned generation's pipes (their read ends).
  void attach(int gen, int pid, ChildPipes pipes);
  // Reads whatever generation `pid` left in its pipes, before its exit is
  // reported: its last lines come before the news that it died. The pipes
  // stay open (and watched) until every writer closed them.
  void drain(int pid);
  // At byed's exit: reads what is left, writes everything out, waiting for
  // a slow reader as long as it makes progress (5 s without any: given up).
  void finish();
  // One of byed's own records (a whole line) on stderr, in order with the
  // children's lines.
  void write_own(std::string_view line);

  struct Sink;
  struct Source;

 private:
  void read_source(Source& s, bool draining);
  void emit(Source& s, const LinePiece& piece, std::string_view time);
  void flush(Sink& k);
  void update_reading();
  void sink_writable(Sink& k);
  bool journal_send(const std::string& gram, int* error);
  void journal_failed(int error);
  Sink& sink_for(const Source& s);
  void erase_closed();

  uv_loop_t* loop_;
  ChildLogMode mode_;
  std::string name_;
  Warn warn_;
  // Declared before sources_: destroyed after them (see ~ChildOutput).
  std::unique_ptr<Sink> out_, err_, journal_;
  bool same_stream_ = false;  // stdout and stderr are one file: one queue
  std::string journal_path_;
  std::list<std::unique_ptr<Source>> sources_;
  std::vector<char> buf_;
};

// What --log-child `mode` amounts to here: nullptr for raw (and for auto
// when byed's stdout and stderr are not the journal's, JOURNAL_STREAM), else
// the ChildOutput. kJournal sends to $BYED_JOURNAL_SOCKET if set (tests,
// a journal elsewhere), else /run/systemd/journal/socket; if that cannot be
// reached, `warn` says so once and the lines are tagged on the streams.
std::unique_ptr<ChildOutput> open_child_output(uv_loop_t* loop,
                                               ChildLogMode mode,
                                               const std::string& name,
                                               ChildOutput::Warn warn);

}  // namespace byed
