// child_log.h — the child's output as lines: framing and formats (pure).
//
// --log-child tag|json|journal: each generation writes into pipes byed
// reads (child_output.cc). Here, with no I/O: LineSplitter cuts the bytes of
// one pipe into lines (a line longer than kMaxLine into marked parts), and
// LineFormatter turns one line into what byed writes: a tagged line, a JSON
// object, or a native journal datagram. Also the grammar of --log-child and
// the rule `auto` follows.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace byed {

enum class ChildLogMode { kRaw, kTag, kJson, kJournal, kAuto };

// "raw", "tag", "json", "journal", "auto".
std::optional<ChildLogMode> parse_child_log_mode(std::string_view text);
const char* child_log_mode_name(ChildLogMode mode);

// A file's identity as JOURNAL_STREAM names it: "DEV:INODE".
struct FileId {
  uint64_t dev = 0;
  uint64_t ino = 0;
};
std::optional<FileId> parse_journal_stream(std::string_view text);

// What `auto` means: journal when JOURNAL_STREAM names byed's stdout or
// stderr (systemd connected them to the journal), raw otherwise. Any other
// mode is returned as it is.
ChildLogMode resolve_child_log_mode(ChildLogMode mode,
                                    std::string_view journal_stream,
                                    std::optional<FileId> out,
                                    std::optional<FileId> err);

// The longest line written whole; a longer one is cut into parts of this
// size (the last one shorter).
constexpr size_t kMaxLine = 64 * 1024;

// One line, or one part of a line longer than the limit, without its '\n'.
struct LinePiece {
  std::string_view text;
  int part = 0;       // 0: a whole line; 1, 2, ...: a part of a long one
  bool more = false;  // a part that is not the line's last
};

// The lines of one stream of bytes. feed() calls emit(LinePiece) for each
// line the bytes complete; bytes of an unfinished line wait (at most
// max_line of them) for the rest. A piece's text is valid only during the
// call.
class LineSplitter {
 public:
  explicit LineSplitter(size_t max_line = kMaxLine) : max_(max_line) {}

  template <class Emit>
  void feed(std::string_view data, Emit&& emit) {
    while (!data.empty()) {
      size_t nl = data.find('\n');
      std::string_view seg = data.substr(0, nl);
      while (buf_.size() + seg.size() > max_) {
        size_t take = max_ - buf_.size();
        if (buf_.empty()) {
          emit(LinePiece{seg.substr(0, take), ++part_, true});
        } else {
          buf_.append(seg.substr(0, take));
          emit(LinePiece{buf_, ++part_, true});
          buf_.clear();
        }
        seg.remove_prefix(take);
      }
      if (nl == std::string_view::npos) {
        buf_.append(seg);
        return;
      }
      int part = part_ > 0 ? part_ + 1 : 0;
      if (buf_.empty()) {
        emit(LinePiece{seg, part, false});
      } else {
        buf_.append(seg);
        emit(LinePiece{buf_, part, false});
        buf_.clear();
      }
      part_ = 0;
      data.remove_prefix(nl + 1);
    }
  }

  // At end of stream: the unterminated last line, if any, as a line.
  template <class Emit>
  void finish(Emit&& emit) {
    if (buf_.empty() && part_ == 0) return;
    emit(LinePiece{buf_, part_ > 0 ? part_ + 1 : 0, false});
    buf_.clear();
    part_ = 0;
  }

  size_t buffered() const { return buf_.size(); }

 private:
  size_t max_;
  std::string buf_;
  int part_ = 0;  // parts of the current line emitted so far
};

enum class ChildStream { kStdout, kStderr };

// Appends `bytes` as a JSON string, quotes included. Valid UTF-8 passes
// through; '"', '\\' and control characters are escaped as JSON requires;
// each byte that is not part of valid UTF-8 becomes \udcXX (XX its value:
// the "surrogateescape" scheme), so no byte is lost and the original bytes
// come back with e.g. Python's s.encode("utf-8", "surrogateescape").
void append_json_string(std::string* out, std::string_view bytes);

// Turns the lines of one generation's stream into byed's output.
class LineFormatter {
 public:
  LineFormatter(std::string name, int gen, int pid, ChildStream stream);

  // `NAME[gen=G pid=P] line\n`; a part: `NAME[gen=G pid=P part=N+] ` while
  // more parts follow, `part=N` on the last.
  void append_tag(std::string* out, const LinePiece& piece) const;
  // {"time":T,"name":..,"gen":G,"pid":P,"stream":"stdout","line":..}\n,
  // and "part":N,"more":true|false for a part. `time` is RFC 3339.
  void append_json(std::string* out, std::string_view time,
                   const LinePiece& piece) const;
  // A native journal entry: MESSAGE, PRIORITY (stdout 6, stderr 3),
  // SYSLOG_IDENTIFIER=NAME, SYSLOG_PID, BYED_GENERATION, BYED_PID,
  // BYED_STREAM, and BYED_PART, BYED_MORE for a part.
  std::string journal_datagram(const LinePiece& piece) const;

 private:
  std::string name_;
  int gen_;
  int pid_;
  ChildStream stream_;
  std::string tag_;           // "NAME[gen=G pid=P"
  std::string json_head_;     // ,"name":..,"gen":G,"pid":P,"stream":..,"line":
  std::string journal_head_;  // the fields every entry of this stream has
};

// One field of the journal's native protocol: KEY=VALUE\n, or, for a value
// holding a newline, KEY\n + its length (64-bit little endian) + VALUE\n.
void append_journal_field(std::string* out, std::string_view key,
                          std::string_view value);

}  // namespace byed
