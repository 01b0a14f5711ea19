#include "child_log.h"

#include <charconv>

namespace byed {
namespace {

constexpr const char* kModeNames[] = {"raw", "tag", "json", "journal", "auto"};

const char* stream_name(ChildStream s) {
  return s == ChildStream::kStdout ? "stdout" : "stderr";
}

std::optional<uint64_t> parse_u64(std::string_view s) {
  uint64_t v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// Length of the valid UTF-8 sequence at s[i], or 0 if the byte there does
// not start one (overlong forms, surrogates and code points past U+10FFFF
// are invalid).
size_t utf8_sequence(std::string_view s, size_t i) {
  auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = at(i);
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // the bounds of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (at(i + k) < 0x80 || at(i + k) > 0xBF) return 0;
  }
  return n;
}

constexpr char kHex[] = "0123456789abcdef";

}  // namespace

std::optional<ChildLogMode> parse_child_log_mode(std::string_view text) {
  for (size_t i = 0; i < std::size(kModeNames); ++i) {
    if (text == kModeNames[i]) return static_cast<ChildLogMode>(i);
  }
  return std::nullopt;
}

const char* child_log_mode_name(ChildLogMode mode) {
  return kModeNames[static_cast<size_t>(mode)];
}

std::optional<FileId> parse_journal_stream(std::string_view text) {
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto dev = parse_u64(text.substr(0, colon));
  auto ino = parse_u64(text.substr(colon + 1));
  if (!dev || !ino) return std::nullopt;
  return FileId{*dev, *ino};
}

ChildLogMode resolve_child_log_mode(ChildLogMode mode,
                                    std::string_view journal_stream,
                                    std::optional<FileId> out,
                                    std::optional<FileId> err) {
  if (mode != ChildLogMode::kAuto) return mode;
  auto js = parse_journal_stream(journal_stream);
  auto same = [&js](const std::optional<FileId>& f) {
    return f && js && f->dev == js->dev && f->ino == js->ino;
  };
  return same(out) || same(err) ? ChildLogMode::kJournal : ChildLogMode::kRaw;
}

void append_json_string(std::string* out, std::string_view s) {
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    // The common case first: a run of printable ASCII.
    size_t run = i;
    while (run < s.size()) {
      unsigned char c = static_cast<unsigned char>(s[run]);
      if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
      ++run;
    }
    out->append(s.data() + i, run - i);
    i = run;
    if (i == s.size()) break;
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
      ++i;
    } else if (c < 0x20) {
      switch (c) {
        case '\n':
          out->append("\\n");
          break;
        case '\t':
          out->append("\\t");
          break;
        case '\r':
          out->append("\\r");
          break;
        default:
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 15]);
      }
      ++i;
    } else if (size_t n = utf8_sequence(s, i); n > 0) {
      out->append(s.data() + i, n);
      i += n;
    } else {
      out->append("\\udc");
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
      ++i;
    }
  }
  out->push_back('"');
}

void append_journal_field(std::string* out, std::string_view key,
                          std::string_view value) {
  out->append(key);
  if (value.find('\n') == std::string_view::npos) {
    out->push_back('=');
    out->append(value);
  } else {
    out->push_back('\n');
    uint64_t n = value.size();
    for (int b = 0; b < 8; ++b) {
      out->push_back(static_cast<char>((n >> (8 * b)) & 0xff));
    }
    out->append(value);
  }
  out->push_back('\n');
}

LineFormatter::LineFormatter(std::string name, int gen, int pid,
                             ChildStream stream)
    : name_(std::move(name)), gen_(gen), pid_(pid), stream_(stream) {
  const std::string g = std::to_string(gen_), p = std::to_string(pid_);
  tag_ = name_ + "[gen=" + g + " pid=" + p;
  json_head_ = ",\"name\":";
  append_json_string(&json_head_, name_);
  json_head_ += ",\"gen\":" + g + ",\"pid\":" + p + ",\"stream\":\"" +
                stream_name(stream_) + "\",\"line\":";
  append_journal_field(&journal_head_, "PRIORITY",
                       stream_ == ChildStream::kStderr ? "3" : "6");
  append_journal_field(&journal_head_, "SYSLOG_IDENTIFIER", name_);
  append_journal_field(&journal_head_, "SYSLOG_PID", p);
  append_journal_field(&journal_head_, "BYED_GENERATION", g);
  append_journal_field(&journal_head_, "BYED_PID", p);
  append_journal_field(&journal_head_, "BYED_STREAM", stream_name(stream_));
}

void LineFormatter::append_tag(std::string* out, const LinePiece& piece) const {
  out->append(tag_);
  if (piece.part > 0) {
    out->append(" part=");
    out->append(std::to_string(piece.part));
    if (piece.more) out->push_back('+');
  }
  out->append("] ");
  out->append(piece.text);
  out->push_back('\n');
}

void LineFormatter::append_json(std::string* out, std::string_view time,
                                const LinePiece& piece) const {
  out->append("{\"time\":\"");
  out->append(time);
  out->push_back('"');
  out->append(json_head_);
  append_json_string(out, piece.text);
  if (piece.part > 0) {
    out->append(",\"part\":");
    out->append(std::to_string(piece.part));
    out->append(piece.more ? ",\"more\":true" : ",\"more\":false");
  }
  out->append("}\n");
}

std::string LineFormatter::journal_datagram(const LinePiece& piece) const {
  std::string d;
  d.reserve(journal_head_.size() + piece.text.size() + 64);
  append_journal_field(&d, "MESSAGE", piece.text);
  d += journal_head_;
  if (piece.part > 0) {
    append_journal_field(&d, "BYED_PART", std::to_string(piece.part));
    append_journal_field(&d, "BYED_MORE", piece.more ? "1" : "0");
  }
  return d;
}

}  // namespace byed
