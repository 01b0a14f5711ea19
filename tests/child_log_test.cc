// The child's output as lines: framing (LineSplitter), the tag, JSON and
// journal formats, the grammar of --log-child and what auto picks.
#include "child_log.h"

#include <doctest/doctest.h>

#include <ostream>
#include <string>
#include <vector>

#include "cli.h"

using byed::ChildLogMode;
using byed::ChildStream;
using byed::LineFormatter;
using byed::LinePiece;
using byed::LineSplitter;

namespace {

struct Got {
  std::string text;
  int part;
  bool more;
  bool operator==(const Got& o) const {
    return text == o.text && part == o.part && more == o.more;
  }
};

// Feeds the chunks one by one, then finishes.
std::vector<Got> split(std::vector<std::string> chunks, size_t max = 8,
                       bool finish = true) {
  LineSplitter s(max);
  std::vector<Got> out;
  auto emit = [&out](const LinePiece& p) {
    out.push_back(Got{std::string(p.text), p.part, p.more});
  };
  for (const auto& c : chunks) s.feed(c, emit);
  if (finish) s.finish(emit);
  return out;
}

std::string json(std::string_view bytes) {
  std::string out;
  byed::append_json_string(&out, bytes);
  return out;
}

}  // namespace

TEST_CASE("child log: lines are whole whatever the chunks") {
  CHECK(split({"a\nbb\n"}) ==
        std::vector<Got>{{"a", 0, false}, {"bb", 0, false}});
  CHECK(split({"a", "b", "\nc", "d\n"}) ==
        std::vector<Got>{{"ab", 0, false}, {"cd", 0, false}});
  CHECK(split({"\n\n"}) == std::vector<Got>{{"", 0, false}, {"", 0, false}});
  // Bytes are bytes: a NUL and invalid UTF-8 stay in the line.
  CHECK(split({std::string("x\0\xff", 3) + "\n"}) ==
        std::vector<Got>{{std::string("x\0\xff", 3), 0, false}});
}

TEST_CASE("child log: an unterminated last line comes out at the end") {
  CHECK(split({"a\nrest"}, 8, false) == std::vector<Got>{{"a", 0, false}});
  CHECK(split({"a\nrest"}) ==
        std::vector<Got>{{"a", 0, false}, {"rest", 0, false}});
  CHECK(split({""}).empty());
  CHECK(split({"a\n"}).size() == 1);
}

TEST_CASE("child log: a line longer than the limit is cut into marked parts") {
  // Exactly the limit: whole.
  CHECK(split({"12345678\n"}) == std::vector<Got>{{"12345678", 0, false}});
  CHECK(split({"123456789\n"}) ==
        std::vector<Got>{{"12345678", 1, true}, {"9", 2, false}});
  // Twice the limit: two full parts, the last one marked last.
  CHECK(split({"1234567812345678\nz\n"}) ==
        std::vector<Got>{
            {"12345678", 1, true}, {"12345678", 2, false}, {"z", 0, false}});
  // Across chunks, and the parts hold every byte.
  CHECK(split({"1234", "56789", "abcdefgh", "ij\n"}) ==
        std::vector<Got>{
            {"12345678", 1, true}, {"9abcdefg", 2, true}, {"hij", 3, false}});
  // A long line cut off by the end of the stream: its last part says so.
  CHECK(split({"1234567812345678"}) ==
        std::vector<Got>{{"12345678", 1, true}, {"12345678", 2, false}});
  CHECK(split({"12345678123456781"}) == std::vector<Got>{{"12345678", 1, true},
                                                         {"12345678", 2, true},
                                                         {"1", 3, false}});
  // Part numbers start again on the next line.
  CHECK(split({"123456789\n123456789\n"}) ==
        std::vector<Got>{{"12345678", 1, true},
                         {"9", 2, false},
                         {"12345678", 1, true},
                         {"9", 2, false}});
}

TEST_CASE("child log: never more than the limit buffered") {
  LineSplitter s(8);
  size_t pieces = 0, bytes = 0;
  for (int i = 0; i < 1000; ++i) {
    s.feed("abc", [&](const LinePiece& p) {
      ++pieces;
      bytes += p.text.size();
      CHECK(p.text.size() <= 8);
    });
    CHECK(s.buffered() <= 8);
  }
  s.finish([&](const LinePiece& p) {
    ++pieces;
    bytes += p.text.size();
  });
  CHECK(bytes == 3000);
  CHECK(pieces == 375);
}

TEST_CASE("child log: JSON strings escape without losing a byte") {
  CHECK(json("plain text") == "\"plain text\"");
  CHECK(json("q\"b\\") == "\"q\\\"b\\\\\"");
  CHECK(json("\t\r\n\x01\x1f") == "\"\\t\\r\\n\\u0001\\u001f\"");
  CHECK(json("\x7f") == "\"\x7f\"");
  // Valid UTF-8 passes through: é, €, 𝄞.
  CHECK(json("\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e") ==
        "\"\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\"");
  // Invalid bytes: one \udcXX each.
  CHECK(json("\xff") == "\"\\udcff\"");
  CHECK(json("a\xc3") == "\"a\\udcc3\"");           // truncated sequence
  CHECK(json("\xc0\xaf") == "\"\\udcc0\\udcaf\"");  // overlong '/'
  CHECK(json("\xed\xa0\x80") == "\"\\udced\\udca0\\udc80\"");  // surrogate
  CHECK(json("\xf4\x90\x80\x80") ==
        "\"\\udcf4\\udc90\\udc80\\udc80\"");  // past U+10FFFF
  CHECK(json("\xe2\x82") == "\"\\udce2\\udc82\"");
  CHECK(json(std::string("\0", 1)) == "\"\\u0000\"");
}

TEST_CASE("child log: tag format") {
  LineFormatter f("web", 3, 1234, ChildStream::kStdout);
  std::string out;
  f.append_tag(&out, LinePiece{"hello", 0, false});
  CHECK(out == "web[gen=3 pid=1234] hello\n");
  out.clear();
  f.append_tag(&out, LinePiece{"abc", 1, true});
  f.append_tag(&out, LinePiece{"d", 2, false});
  CHECK(out ==
        "web[gen=3 pid=1234 part=1+] abc\nweb[gen=3 pid=1234 part=2] d\n");
}

TEST_CASE("child log: JSON format, numbers as numbers") {
  LineFormatter f("we\"b", 2, 77, ChildStream::kStderr);
  std::string out;
  f.append_json(&out, "2026-01-02T03:04:05.123456Z",
                LinePiece{"x\xff", 0, false});
  CHECK(out ==
        "{\"time\":\"2026-01-02T03:04:05.123456Z\",\"name\":\"we\\\"b\","
        "\"gen\":2,\"pid\":77,\"stream\":\"stderr\",\"line\":\"x\\udcff\"}\n");
  out.clear();
  f.append_json(&out, "T", LinePiece{"p", 4, true});
  CHECK(out.find(",\"line\":\"p\",\"part\":4,\"more\":true}\n") !=
        std::string::npos);
}

TEST_CASE("child log: journal datagrams") {
  std::string field;
  byed::append_journal_field(&field, "A", "b c");
  CHECK(field == "A=b c\n");
  field.clear();
  byed::append_journal_field(&field, "M", "x\ny");
  CHECK(field == std::string("M\n\x03\0\0\0\0\0\0\0x\ny\n", 14));

  LineFormatter out("web", 5, 42, ChildStream::kStdout);
  CHECK(out.journal_datagram(LinePiece{"hi", 0, false}) ==
        "MESSAGE=hi\nPRIORITY=6\nSYSLOG_IDENTIFIER=web\nSYSLOG_PID=42\n"
        "BYED_GENERATION=5\nBYED_PID=42\nBYED_STREAM=stdout\n");
  LineFormatter err("web", 5, 42, ChildStream::kStderr);
  std::string d = err.journal_datagram(LinePiece{"x", 2, true});
  CHECK(d.find("PRIORITY=3\n") != std::string::npos);
  CHECK(d.find("BYED_STREAM=stderr\n") != std::string::npos);
  CHECK(d.find("BYED_PART=2\nBYED_MORE=1\n") != std::string::npos);
  // Binary bytes stay as they are: the protocol is binary-safe.
  std::string bin = out.journal_datagram(LinePiece{"\xff\x01", 0, false});
  CHECK(bin.rfind("MESSAGE=\xff\x01\n", 0) == 0);
}

TEST_CASE("child log: --log-child grammar and what auto picks") {
  CHECK(byed::parse_child_log_mode("tag") == ChildLogMode::kTag);
  CHECK(byed::parse_child_log_mode("journal") == ChildLogMode::kJournal);
  CHECK(!byed::parse_child_log_mode("Tag"));
  CHECK(std::string(byed::child_log_mode_name(ChildLogMode::kAuto)) == "auto");

  auto id = byed::parse_journal_stream("8:12345");
  REQUIRE(id);
  CHECK(id->dev == 8);
  CHECK(id->ino == 12345);
  CHECK(!byed::parse_journal_stream("8"));
  CHECK(!byed::parse_journal_stream("8:x"));
  CHECK(!byed::parse_journal_stream(":1"));

  byed::FileId journal{8, 12345}, other{8, 1};
  using byed::resolve_child_log_mode;
  CHECK(resolve_child_log_mode(ChildLogMode::kAuto, "8:12345", other,
                               journal) == ChildLogMode::kJournal);
  CHECK(resolve_child_log_mode(ChildLogMode::kAuto, "8:12345", journal,
                               std::nullopt) == ChildLogMode::kJournal);
  CHECK(resolve_child_log_mode(ChildLogMode::kAuto, "8:12345", other, other) ==
        ChildLogMode::kRaw);
  CHECK(resolve_child_log_mode(ChildLogMode::kAuto, "", journal, journal) ==
        ChildLogMode::kRaw);
  CHECK(resolve_child_log_mode(ChildLogMode::kTag, "8:12345", journal,
                               journal) == ChildLogMode::kTag);
}

TEST_CASE("child log: --log-child on the command line") {
  auto parse = [](std::vector<std::string> args, const byed::Env& env = {}) {
    std::vector<const char*> argv{"byed"};
    for (const std::string& a : args) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    byed::Config c;
    std::string err;
    byed::ParseOutcome o;
    bool ok = byed::parse_args(static_cast<int>(argv.size() - 1), argv.data(),
                               env, &c, &err, &o);
    return std::make_pair(ok ? std::optional<byed::Config>(c) : std::nullopt,
                          err);
  };
  CHECK(parse({"p"}).first->log_child == ChildLogMode::kRaw);
  CHECK(parse({"--log-child", "tag", "p"}).first->log_child ==
        ChildLogMode::kTag);
  CHECK(parse({"p"}, {{"BYED_LOG_CHILD", "journal"}}).first->log_child ==
        ChildLogMode::kJournal);
  auto bad = parse({"--log-child", "xml", "p"});
  CHECK_FALSE(bad.first);
  CHECK(bad.second ==
        "--log-child 'xml': expected raw, tag, json, journal or auto");
  // json: byed's own records follow, unless --log-format says otherwise.
  CHECK(parse({"--log-child", "json", "p"}).first->log_format ==
        byed::LogFormat::kJson);
  CHECK(parse({"--log-child", "tag", "p"}).first->log_format ==
        byed::LogFormat::kText);
  CHECK(parse({"--log-child", "json", "--log-format", "text", "p"})
            .first->log_format == byed::LogFormat::kText);
  CHECK(parse({"--log-child", "json", "p"}, {{"BYED_LOG_FORMAT", "text"}})
            .first->log_format == byed::LogFormat::kText);
}

TEST_CASE("child log: UTF-8 at the edges of each sequence length") {
  // Valid: the first and last code point of each length, and the last
  // before and the first after the surrogates.
  for (const char* ok :
       {"\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80",
        "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf"}) {
    CAPTURE(ok);
    CHECK(json(ok) == "\"" + std::string(ok) + "\"");
  }
  // Invalid: overlong forms, a surrogate, past U+10FFFF, bad continuation
  // bytes, a lone continuation byte.
  CHECK(json("\xc1\xbf") == "\"\\udcc1\\udcbf\"");
  CHECK(json("\xe0\x9f\xbf") == "\"\\udce0\\udc9f\\udcbf\"");
  CHECK(json("\xf0\x8f\xbf\xbf") == "\"\\udcf0\\udc8f\\udcbf\\udcbf\"");
  CHECK(json("\xf5\x80\x80\x80") == "\"\\udcf5\\udc80\\udc80\\udc80\"");
  CHECK(json("\xc2\x7f") == "\"\\udcc2\x7f\"");
  CHECK(json("\xc2\xc0") == "\"\\udcc2\\udcc0\"");
  CHECK(json("\xe2\x82\x7f") == "\"\\udce2\\udc82\x7f\"");
  CHECK(json("\xe2\x82\xc0") == "\"\\udce2\\udc82\\udcc0\"");
  CHECK(json("\x80") == "\"\\udc80\"");
  CHECK(json(" ~") == "\" ~\"");
}

TEST_CASE("child log: a journal field's length is 64-bit little-endian") {
  std::string value(0x1234, 'x');
  value[0] = '\n';
  std::string field;
  byed::append_journal_field(&field, "M", value);
  CHECK(field.substr(0, 10) == std::string("M\n\x34\x12\0\0\0\0\0\0", 10));
  CHECK(field.size() == 2 + 8 + value.size() + 1);
}

TEST_CASE("child log: JOURNAL_STREAM is DEV:INO, two decimal numbers") {
  auto id = byed::parse_journal_stream("0:18446744073709551615");
  REQUIRE(id);
  CHECK(id->dev == 0);
  CHECK(id->ino == 18446744073709551615ULL);
  CHECK(!byed::parse_journal_stream("8:"));
  CHECK(!byed::parse_journal_stream("8:1x"));
  CHECK(!byed::parse_journal_stream("8:18446744073709551616"));
  CHECK(!byed::parse_journal_stream(""));
  for (ChildLogMode m :
       {ChildLogMode::kRaw, ChildLogMode::kTag, ChildLogMode::kJson,
        ChildLogMode::kJournal, ChildLogMode::kAuto}) {
    CHECK(byed::parse_child_log_mode(byed::child_log_mode_name(m)) == m);
  }
}
