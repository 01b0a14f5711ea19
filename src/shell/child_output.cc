#include "child_output.h"

#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <deque>

#include "log.h"
#include "text.h"

namespace byed {
namespace {

// A queue this full stops the reading of the pipes that feed it; reading
// resumes once it is down to kLow. Whatever one read adds on top (64 KiB of
// input, at most 6 bytes out per byte in JSON) bounds it.
constexpr size_t kHigh = 256 * 1024;
constexpr size_t kLow = 64 * 1024;
constexpr size_t kReadSize = 64 * 1024;
constexpr int kPipeSize = 1024 * 1024;

}  // namespace

struct ChildOutput::Sink {
  ChildOutput* owner = nullptr;
  const char* what = "";  // "stdout", "stderr", "the journal"
  int fd = -1;
  int restore_flags = -1;  // a shared socket's flags, put back at the end
  UniqueFd own;            // a description of our own (reopened, journal)
  bool socket = false;     // send(MSG_DONTWAIT), never write()
  bool nonblocking = false;
  bool datagram = false;
  bool dead = false;
  bool blocked = false;  // full: its sources are not read
  std::string pending;
  size_t off = 0;
  std::deque<std::string> grams;
  size_t gram_bytes = 0;
  UvHandle<uv_poll_t> poll;  // after `own`: closed before its fd
  bool poll_inited = false;
  bool polling = false;

  size_t queued() const { return datagram ? gram_bytes : pending.size() - off; }
  ~Sink() {
    poll.reset();
    if (restore_flags >= 0) fcntl(fd, F_SETFL, restore_flags);
  }
};

struct ChildOutput::Source {
  ChildOutput* owner = nullptr;
  int gen = 0;
  int pid = 0;
  ChildStream stream = ChildStream::kStdout;
  LineSplitter split;
  LineFormatter fmt;
  UniqueFd fd;
  UvHandle<uv_poll_t> poll;  // after `fd`: closed before it
  bool reading = false;
  bool closed = false;

  Source(const std::string& name, int g, int p, ChildStream s, UniqueFd f)
      : gen(g), pid(p), stream(s), fmt(name, g, p, s), fd(std::move(f)) {}
};

namespace {

// byed's stdout or stderr as a queue's target. A pipe, FIFO or terminal is
// reopened through /proc with O_NONBLOCK: a description of byed's own, so
// the flag does not change the file for anyone else. A socket (journald's
// stream) cannot be reopened: it is written with MSG_DONTWAIT, and the
// O_NONBLOCK that watching it sets is undone at the end. A regular file
// never blocks for long: written as it is.
std::unique_ptr<ChildOutput::Sink> stream_sink(ChildOutput* owner, int fd,
                                               const char* what) {
  auto k = std::make_unique<ChildOutput::Sink>();
  k->owner = owner;
  k->what = what;
  k->fd = fd;
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    k->dead = true;
  } else if (S_ISSOCK(st.st_mode)) {
    k->socket = true;
    k->nonblocking = true;
    k->restore_flags = fcntl(fd, F_GETFL);
  } else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
    std::string path = "/proc/self/fd/" + std::to_string(fd);
    int n = open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (n >= 0) {
      k->own.reset(n);
      k->fd = n;
      k->nonblocking = true;
    }
    // Else (no /proc, a pipe with no reader): plain writes, which may block
    // or fail as they would for the child.
  }
  return k;
}

bool same_file(int a, int b) {
  struct stat sa {
  }, sb{};
  return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

std::string time_now() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return rfc3339(now, 6);
}

}  // namespace

ChildOutput::ChildOutput(uv_loop_t* loop, ChildLogMode mode, std::string name,
                         Warn warn)
    : loop_(loop),
      mode_(mode),
      name_(std::move(name)),
      warn_(std::move(warn)),
      buf_(kReadSize) {
  out_ = stream_sink(this, STDOUT_FILENO, "stdout");
  same_stream_ = same_file(STDOUT_FILENO, STDERR_FILENO);
  if (!same_stream_) err_ = stream_sink(this, STDERR_FILENO, "stderr");
}

// Members go in reverse order of declaration: the sources (the children's
// pipes) before the journal's sink, then stderr's and stdout's.
ChildOutput::~ChildOutput() = default;

bool ChildOutput::connect_journal(const std::string& path, std::string* err) {
  journal_path_ = path;
  auto k = std::make_unique<Sink>();
  k->owner = this;
  k->what = "the journal";
  k->datagram = true;
  k->socket = true;
  k->nonblocking = true;
  k->own.reset(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (!k->own || path.size() >= sizeof addr.sun_path) {
    *err = "journal socket " + path + ": " +
           (k->own ? "path too long" : strerror(errno));
    return false;
  }
  memcpy(addr.sun_path, path.c_str(), path.size());
  if (connect(k->own.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) !=
      0) {
    *err = "journal socket " + path + ": " + strerror(errno);
    return false;
  }
  // Room for a burst of full-size lines; best effort.
  int size = 1 << 20;
  setsockopt(k->own.get(), SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  k->fd = k->own.get();
  journal_ = std::move(k);
  return true;
}

bool ChildOutput::make_pipes(ChildPipes* p, std::string* err) {
  int out[2], errp[2];
  if (pipe2(out, O_CLOEXEC | O_NONBLOCK) != 0) {
    *err = std::string("child output pipe: ") + strerror(errno);
    return false;
  }
  p->out_read.reset(out[0]);
  p->out_write.reset(out[1]);
  if (pipe2(errp, O_CLOEXEC | O_NONBLOCK) != 0) {
    *err = std::string("child output pipe: ") + strerror(errno);
    p->out_read.reset();
    p->out_write.reset();
    return false;
  }
  p->err_read.reset(errp[0]);
  p->err_write.reset(errp[1]);
  // The child's ends block, as the stdout it would inherit does: a full
  // pipe makes it wait (backpressure) instead of failing its writes.
  if (fcntl(p->out_write.get(), F_SETFL, 0) != 0 ||
      fcntl(p->err_write.get(), F_SETFL, 0) != 0) {
    *err = std::string("child output pipe: fcntl: ") + strerror(errno);
    *p = ChildPipes{};
    return false;
  }
  // Room for the child to go on writing while byed is not scheduled: fewer
  // round trips (best effort; /proc/sys/fs/pipe-max-size caps it).
  fcntl(p->out_read.get(), F_SETPIPE_SZ, kPipeSize);
  fcntl(p->err_read.get(), F_SETPIPE_SZ, kPipeSize);
  return true;
}

void ChildOutput::attach(int gen, int pid, ChildPipes pipes) {
  pipes.out_write.reset();  // only the child holds the write ends now
  pipes.err_write.reset();
  for (auto [stream, fd] :
       {std::make_pair(ChildStream::kStdout, &pipes.out_read),
        std::make_pair(ChildStream::kStderr, &pipes.err_read)}) {
    if (!*fd) continue;
    auto s = std::make_unique<Source>(name_, gen, pid, stream, std::move(*fd));
    s->owner = this;
    int rc = s->poll.init(uv_poll_init, loop_, s.get(), s->fd.get());
    if (rc != 0) {
      warn_("cannot watch a generation's output: " +
            std::string(uv_strerror(rc)));
      continue;
    }
    sources_.push_back(std::move(s));
  }
  update_reading();
}

ChildOutput::Sink& ChildOutput::sink_for(const Source& s) {
  if (journal_ && !journal_->dead) return *journal_;
  if (s.stream == ChildStream::kStderr && err_) return *err_;
  return *out_;
}

void ChildOutput::emit(Source& s, const LinePiece& piece,
                       std::string_view time) {
  Sink& k = sink_for(s);
  if (k.dead) return;  // its reader is gone: lines are read and dropped
  if (k.datagram) {
    k.grams.push_back(s.fmt.journal_datagram(piece));
    k.gram_bytes += k.grams.back().size();
  } else if (mode_ == ChildLogMode::kJson) {
    s.fmt.append_json(&k.pending, time, piece);
  } else {
    s.fmt.append_tag(&k.pending, piece);  // tag, and journal's fallback
  }
}

void ChildOutput::read_source(Source& s, bool draining) {
  if (s.closed) return;
  std::string time;
  auto emit_piece = [&](const LinePiece& p) { emit(s, p, time); };
  for (int i = 0; i < (draining ? 32 : 4); ++i) {
    if (!draining && sink_for(s).blocked) break;
    ssize_t n = ::read(s.fd.get(), buf_.data(), buf_.size());
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) {
      if (mode_ == ChildLogMode::kJson) time = time_now();
      s.split.feed(std::string_view(buf_.data(), static_cast<size_t>(n)),
                   emit_piece);
      Sink& k = sink_for(s);
      if (k.queued() >= kHigh) k.blocked = true;
      continue;
    }
    if (n == 0 || errno != EAGAIN) {  // every writer closed it
      if (mode_ == ChildLogMode::kJson) time = time_now();
      s.split.finish(emit_piece);
      s.closed = true;
    }
    break;
  }
  for (Sink* k : {out_.get(), err_.get(), journal_.get()}) {
    if (k != nullptr && k->queued() > 0) flush(*k);
  }
}

void ChildOutput::flush(Sink& k) {
  if (k.datagram) {
    while (!k.dead && !k.grams.empty()) {
      const std::string& g = k.grams.front();
      ssize_t n = send(k.fd, g.data(), g.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n >= 0) {
        k.gram_bytes -= g.size();
        k.grams.pop_front();
        continue;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == ENOBUFS) break;
      journal_failed(errno);
      return;
    }
  } else {
    while (!k.dead && k.off < k.pending.size()) {
      const char* p = k.pending.data() + k.off;
      size_t len = k.pending.size() - k.off;
      ssize_t n = k.socket ? send(k.fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL)
                           : ::write(k.fd, p, len);
      if (n > 0) {
        k.off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) break;
      // EPIPE and the like: nobody reads it any more. byed carries on, and
      // keeps reading the children's pipes so they never block on it.
      int e = n < 0 ? errno : EIO;
      k.dead = true;
      k.pending.clear();
      k.off = 0;
      warn_(std::string("cannot write the children's lines to ") + k.what +
            ": " + strerror(e) + "; they are dropped from now on");
    }
    if (k.off == k.pending.size()) {
      k.pending.clear();
      k.off = 0;
    } else if (k.off >= kLow) {
      k.pending.erase(0, k.off);
      k.off = 0;
    }
  }
  if (k.dead) {
    k.grams.clear();
    k.gram_bytes = 0;
  }
  bool want = k.queued() > 0 && !k.dead;
  if (want && !k.polling) {
    if (!k.poll_inited) {
      int rc = k.poll.init(uv_poll_init, loop_, &k, k.fd);
      if (rc != 0) {
        // Cannot be watched: wait for it here, as a plain write would.
        pollfd p{k.fd, POLLOUT, 0};
        ::poll(&p, 1, -1);
        flush(k);
        return;
      }
      k.poll_inited = true;
    }
    uv_poll_start(k.poll.get(), UV_WRITABLE, [](uv_poll_t* h, int, int) {
      auto* sink = static_cast<Sink*>(h->data);
      sink->owner->sink_writable(*sink);
    });
    k.polling = true;
  } else if (!want && k.polling) {
    uv_poll_stop(k.poll.get());
    k.polling = false;
  }
  if (k.queued() >= kHigh) k.blocked = true;
  if (k.queued() <= kLow) k.blocked = false;
}

void ChildOutput::sink_writable(Sink& k) {
  flush(k);
  update_reading();
}

void ChildOutput::journal_failed(int error) {
  Sink& j = *journal_;
  // journald restarted: its socket is a new one at the same path.
  std::string err;
  std::deque<std::string> grams = std::move(j.grams);
  size_t bytes = j.gram_bytes;
  if (error == ECONNREFUSED && connect_journal(journal_path_, &err)) {
    journal_->grams = std::move(grams);
    journal_->gram_bytes = bytes;
    flush(*journal_);
    return;
  }
  j.dead = true;
  warn_("cannot send to the journal (" + journal_path_ +
        "): " + strerror(error) + "; " + std::to_string(grams.size()) +
        " lines lost, the next ones go to stdout and stderr, tagged");
  update_reading();
}

void ChildOutput::update_reading() {
  for (auto& s : sources_) {
    bool want = !s->closed && !sink_for(*s).blocked;
    if (want == s->reading) continue;
    if (want) {
      uv_poll_start(s->poll.get(), UV_READABLE, [](uv_poll_t* h, int, int) {
        auto* src = static_cast<Source*>(h->data);
        ChildOutput* self = src->owner;
        self->read_source(*src, false);
        self->erase_closed();  // src may be gone from here on
        self->update_reading();
      });
    } else {
      uv_poll_stop(s->poll.get());
    }
    s->reading = want;
  }
}

void ChildOutput::erase_closed() {
  sources_.remove_if(
      [](const std::unique_ptr<Source>& s) { return s->closed; });
}

void ChildOutput::drain(int pid) {
  for (auto& s : sources_) {
    if (s->pid == pid) read_source(*s, true);
  }
  erase_closed();
  update_reading();
}

void ChildOutput::write_own(std::string_view line) {
  Sink& k = err_ ? *err_ : *out_;
  if (k.dead) return;
  k.pending.append(line);
  flush(k);
}

void ChildOutput::finish() {
  for (auto& s : sources_) {
    read_source(*s, true);
    if (!s->closed) {
      std::string time = time_now();
      s->split.finish([&](const LinePiece& p) { emit(*s, p, time); });
    }
  }
  sources_.clear();
  for (Sink* k : {out_.get(), err_.get(), journal_.get()}) {
    while (k != nullptr && !k->dead && k->queued() > 0) {
      flush(*k);
      if (k->dead || k->queued() == 0) break;
      pollfd p{k->fd, POLLOUT, 0};
      if (::poll(&p, 1, 5000) == 0) {
        k->dead = true;  // 5 s without progress: nobody is reading
      }
    }
  }
}

std::unique_ptr<ChildOutput> open_child_output(uv_loop_t* loop,
                                               ChildLogMode mode,
                                               const std::string& name,
                                               ChildOutput::Warn warn) {
  auto id = [](int fd) -> std::optional<FileId> {
    struct stat st {};
    if (fstat(fd, &st) != 0) return std::nullopt;
    return FileId{static_cast<uint64_t>(st.st_dev),
                  static_cast<uint64_t>(st.st_ino)};
  };
  const char* stream = getenv("JOURNAL_STREAM");
  mode = resolve_child_log_mode(mode, stream ? stream : "", id(STDOUT_FILENO),
                                id(STDERR_FILENO));
  if (mode == ChildLogMode::kRaw) return nullptr;
  auto out = std::make_unique<ChildOutput>(loop, mode, name, warn);
  if (mode == ChildLogMode::kJournal) {
    const char* path = getenv("BYED_JOURNAL_SOCKET");
    std::string err;
    if (!out->connect_journal(
            path && *path ? path : "/run/systemd/journal/socket", &err)) {
      warn(err + "; the children's lines go to stdout and stderr, tagged");
    }
  }
  return out;
}

}  // namespace byed
