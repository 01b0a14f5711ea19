#include "waiting.h"

// Headers for constants and layouts only: no system call is made here.
#include <poll.h>
#include <sys/epoll.h>
#include <sys/syscall.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstring>

namespace byed {

namespace {

// The whitespace-separated tokens of text, in order.
template <typename F>
void for_each_token(std::string_view text, F f) {
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' ||
                               text[i] == '\n' || text[i] == '\r')) {
      ++i;
    }
    size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t' &&
           text[i] != '\n' && text[i] != '\r') {
      ++i;
    }
    if (i > start) f(text.substr(start, i - start));
  }
}

// The whole of s as a number in base; nothing else may follow.
template <typename T>
bool parse_whole(std::string_view s, int base, T* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, base);
  return ec == std::errc() && end == s.data() + s.size();
}

// A number as /proc/PID/syscall prints it: "0x1f" is hex, "31" decimal.
bool parse_kernel_number(std::string_view s, uint64_t* out) {
  if (s.substr(0, 2) == "0x") return parse_whole(s.substr(2), 16, out);
  return parse_whole(s, 10, out);
}

int as_fd(uint64_t arg) {
  // The kernel reads an fd argument as a 32-bit int.
  return static_cast<int>(static_cast<uint32_t>(arg));
}

}  // namespace

const char* wait_how_name(WaitHow how) {
  switch (how) {
    case WaitHow::kEpoll:
      return "epoll";
    case WaitHow::kAccept:
      return "accept";
    case WaitHow::kPoll:
      return "poll";
    case WaitHow::kSelect:
      return "select";
    case WaitHow::kNone:
      break;
  }
  return "none";
}

void parse_epoll_fdinfo(std::string_view text, std::vector<EpollTarget>* out) {
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(start, nl - start);
    start = nl + 1;
    size_t lead = line.find_first_not_of(" \t");
    if (lead == std::string_view::npos || line.substr(lead, 4) != "tfd:") {
      continue;
    }
    // Keys end in ':'; a value follows as the next token ("tfd: 3") or in
    // the same one ("ino:4b98").
    EpollTarget t;
    bool have_fd = false, have_events = false, ok = true;
    std::string_view pending;
    for_each_token(line, [&](std::string_view tok) {
      std::string_view key, value;
      if (!pending.empty()) {
        key = pending;
        value = tok;
        pending = {};
      } else {
        size_t colon = tok.find(':');
        if (colon == std::string_view::npos) return;
        key = tok.substr(0, colon);
        value = tok.substr(colon + 1);
        if (value.empty()) {
          pending = key;
          return;
        }
      }
      if (key == "tfd") {
        have_fd = parse_whole(value, 10, &t.fd);
        ok = ok && have_fd;
      } else if (key == "events") {
        have_events = parse_whole(value, 16, &t.events);
        ok = ok && have_events;
      } else if (key == "ino") {
        t.has_ino = parse_whole(value, 16, &t.ino);
        ok = ok && t.has_ino;
      }
    });
    if (ok && have_fd && have_events) out->push_back(t);
  }
}

bool SyscallLine::operator==(const SyscallLine& o) const {
  return state == o.state && nr == o.nr && sp == o.sp && pc == o.pc &&
         std::memcmp(args, o.args, sizeof args) == 0;
}

std::optional<SyscallLine> parse_syscall_line(std::string_view text) {
  std::string_view toks[10];
  size_t n = 0;
  bool too_many = false;
  for_each_token(text, [&](std::string_view tok) {
    if (n < std::size(toks)) {
      toks[n++] = tok;
    } else {
      too_many = true;
    }
  });
  if (too_many || n == 0) return std::nullopt;
  SyscallLine s;
  if (toks[0] == "running") {
    if (n != 1) return std::nullopt;
    s.state = SyscallLine::State::kRunning;
    return s;
  }
  if (!parse_whole(toks[0], 10, &s.nr)) return std::nullopt;
  if (s.nr < 0) {
    if (n != 3) return std::nullopt;
    s.state = SyscallLine::State::kNoSyscall;
    s.nr = -1;
  } else {
    if (n != 9) return std::nullopt;
    s.state = SyscallLine::State::kBlocked;
    for (size_t i = 0; i < 6; ++i) {
      if (!parse_kernel_number(toks[1 + i], &s.args[i])) return std::nullopt;
    }
  }
  if (!parse_kernel_number(toks[n - 2], &s.sp) ||
      !parse_kernel_number(toks[n - 1], &s.pc)) {
    return std::nullopt;
  }
  return s;
}

BlockedWait classify_blocked(const SyscallLine& call) {
  BlockedWait w;
  if (call.state != SyscallLine::State::kBlocked) return w;
  const uint64_t* a = call.args;
  switch (call.nr) {
#ifdef __NR_accept
    case __NR_accept:
#endif
    case __NR_accept4:
      w.how = WaitHow::kAccept;
      w.fd = as_fd(a[0]);
      break;
#ifdef __NR_poll
    case __NR_poll:
#endif
    case __NR_ppoll:
      // (fds, nfds, ...)
      w.how = WaitHow::kPoll;
      w.addr = a[0];
      w.count = static_cast<uint32_t>(a[1]);
      break;
#ifdef __NR_select
    case __NR_select:
#endif
    case __NR_pselect6:
      // (nfds, readfds, writefds, exceptfds, ...)
      w.how = WaitHow::kSelect;
      w.count = static_cast<uint32_t>(a[0]);
      w.addr = a[1];
      break;
#ifdef __NR_epoll_wait
    case __NR_epoll_wait:
#endif
    case __NR_epoll_pwait:
#ifdef __NR_epoll_pwait2
    case __NR_epoll_pwait2:
#endif
      w.how = WaitHow::kEpoll;
      w.fd = as_fd(a[0]);
      break;
    default:
      break;
  }
  return w;
}

void poll_read_fds(const unsigned char* bytes, size_t size,
                   std::vector<int>* out) {
  for (size_t off = 0; off + sizeof(pollfd) <= size; off += sizeof(pollfd)) {
    pollfd p;
    std::memcpy(&p, bytes + off, sizeof p);
    if (p.fd >= 0 && (p.events & (POLLIN | POLLRDNORM)) != 0) {
      out->push_back(p.fd);
    }
  }
}

size_t fdset_bytes(uint64_t nfds) {
  constexpr uint64_t kBits = sizeof(unsigned long) * CHAR_BIT;
  return static_cast<size_t>((nfds + kBits - 1) / kBits *
                             sizeof(unsigned long));
}

void fdset_read_fds(const unsigned char* bytes, size_t size, uint64_t nfds,
                    std::vector<int>* out) {
  constexpr uint64_t kBits = sizeof(unsigned long) * CHAR_BIT;
  size_t words = std::min(size, fdset_bytes(nfds)) / sizeof(unsigned long);
  for (size_t w = 0; w < words; ++w) {
    unsigned long word;
    std::memcpy(&word, bytes + w * sizeof word, sizeof word);
    for (uint64_t bit = 0; bit < kBits; ++bit, word >>= 1) {
      uint64_t fd = w * kBits + bit;
      if (fd >= nfds) return;
      if (word & 1UL) out->push_back(static_cast<int>(fd));
    }
  }
}

std::optional<uint64_t> parse_socket_link(std::string_view target) {
  constexpr std::string_view kPrefix = "socket:[";
  if (target.substr(0, kPrefix.size()) != kPrefix || target.back() != ']') {
    return std::nullopt;
  }
  uint64_t ino{};
  if (!parse_whole(
          target.substr(kPrefix.size(), target.size() - kPrefix.size() - 1), 10,
          &ino)) {
    return std::nullopt;
  }
  return ino;
}

bool is_epoll_link(std::string_view target) {
  return target == "anon_inode:[eventpoll]";
}

size_t match_waits(const ProcessWaits& p, int pid,
                   const std::vector<uint64_t>& held,
                   std::vector<Waiter>* found) {
  size_t newly = 0;
  auto mark = [&](uint64_t ino, WaitHow how) {
    for (size_t i = 0; i < held.size(); ++i) {
      if (held[i] == ino && (*found)[i].how == WaitHow::kNone) {
        (*found)[i] = Waiter{pid, how};
        ++newly;
      }
    }
  };
  auto inode_of_fd = [&](int fd) -> std::optional<uint64_t> {
    for (const auto& [sfd, ino] : p.sockets) {
      if (sfd == fd) return ino;
    }
    return std::nullopt;
  };
  for (const EpollTarget& t : p.epoll_targets) {
    if ((t.events & (EPOLLIN | EPOLLRDNORM)) == 0) continue;
    if (t.has_ino) {
      mark(t.ino, WaitHow::kEpoll);
    } else if (auto ino = inode_of_fd(t.fd)) {
      mark(*ino, WaitHow::kEpoll);
    }
  }
  for (const auto& [fd, how] : p.blocked) {
    if (auto ino = inode_of_fd(fd)) mark(*ino, how);
  }
  return newly;
}

std::string describe_waiter(std::string_view name, const Waiter& w) {
  std::string out = "accepting ";
  out += name;
  if (w.how == WaitHow::kNone) return out + ": not waited on";
  out += ": ";
  out += wait_how_name(w.how);
  out += " pid=";
  out += std::to_string(w.pid);
  return out;
}

}  // namespace byed
