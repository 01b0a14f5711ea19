#!/usr/bin/env python3
"""Writes src/hot_text.ld: the code the static byed runs, first in its text.

    tests/bench/hot_text.py BUILD_DIR [OUT]

BUILD_DIR is a static build (the default `cmake -S . -B BUILD_DIR`) with
byed and the link map byed.map. byed runs under callgrind with a child that
ignores HUP, once without options and once with one (CLI11's parser built):
start-up (and the forked child up to its exec), one HUP (a
plain forward), one TERM (the stop, the child's exit, byed's exit). Every input section that holds an executed
instruction is listed, in address order, in an output section placed before
.text. The kernel maps a file's pages 64 KiB around each page fault, so
with the executed code spread over the whole text, start-up mapped all of
it; gathered, it maps a few hundred KiB, and the stop path with it (the
first TERM takes no page fault in the text). Run it again when byed's code
changes much: a section the list no longer names only goes back to .text.
"""

import bisect
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def input_sections(map_path):
    """(address, size, section, file) of every input section in the text."""
    out = []
    lines = open(map_path).read().split("\n")
    start = next(i for i, l in enumerate(lines) if l.startswith("Linker script and memory map"))
    pending = None
    output = None
    for line in lines[start:]:
        m = re.match(r"^(\.\S+)\s", line)
        if m and not line.startswith(" "):
            output = m.group(1)
        m = re.match(r"^ (\S+)\s*$", line)
        if m:
            pending = m.group(1)
            continue
        m = re.match(r"^ (\S+)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$", line)
        if m:
            sec = m.group(1) or pending
            size = int(m.group(3), 16)
            if size and output in (".text", ".text.byed_hot"):
                out.append((int(m.group(2), 16), size, sec, m.group(4)))
        pending = None
    out.sort()
    return out


def executed(callgrind_out):
    """Instruction addresses in a callgrind --dump-instr=yes profile."""
    addrs = set()
    cur = 0
    for line in open(callgrind_out):
        if not line or not (line[0].isdigit() or line[0] in "+-*"):
            continue
        tok = line.split()[0]
        if tok.startswith("0x"):
            cur = int(tok, 16)
        elif tok.startswith("+"):
            cur += int(tok[1:])
        elif tok.startswith("-"):
            cur -= int(tok[1:])
        elif tok != "*":
            continue
        addrs.add(cur)
    return addrs


def profile(byed, out, options):
    child = ["/bin/sh", "-c", "trap '' HUP; exec sleep 100"]
    p = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--dump-instr=yes",
         "--dump-before=execve",
         "--callgrind-out-file=" + os.path.join(out, "callgrind.%p"), byed,
         *options, "--", *child],
        stderr=subprocess.PIPE, text=True)
    for line in p.stderr:  # byed's log: the child runs
        if "started pid=" in line:
            break
    time.sleep(1)  # the loop waits (valgrind is slow to get there)
    p.send_signal(signal.SIGHUP)
    time.sleep(1)
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=120)


def pattern(section, path):
    """A linker-script input pattern that names the section in the next
    link too: the numbers GCC appends to local clones may change."""
    section = re.sub(r"\.(lto_priv|constprop|isra|part|cold|localalias)\.[0-9]+",
                     r".\1.*", section)
    name = os.path.basename(path.split("(")[0])
    if "ltrans" in path:
        where = "*.ltrans.o"
    elif "(" in path:
        where = "*%s:%s" % (name, path.split("(")[1].rstrip(")"))
    else:
        where = "*" + name
    return "    %s(%s)" % (where, section)


def main():
    build = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "src", "hot_text.ld")
    secs = input_sections(os.path.join(build, "byed.map"))
    starts = [s[0] for s in secs]
    with tempfile.TemporaryDirectory() as tmp:
        # Without options (argv is split without CLI11) and with one (the
        # parser is built): both start-ups are common.
        profile(os.path.join(build, "byed"), tmp, [])
        profile(os.path.join(build, "byed"), tmp, ["--stop-timeout", "30s"])
        addrs = set()  # byed's and its forked child's before the exec
        for name in os.listdir(tmp):
            addrs |= executed(os.path.join(tmp, name))
    hot = {}
    for a in addrs:
        i = bisect.bisect_right(starts, a) - 1
        if i >= 0 and a < secs[i][0] + secs[i][1]:
            hot[i] = secs[i]
    lines = []
    for i in sorted(hot):
        p = pattern(hot[i][2], hot[i][3])
        if p not in lines:
            lines.append(p)
    size = sum(s[1] for s in hot.values())
    with open(out, "w") as f:
        f.write("/* hot_text.ld: the code the static byed runs at start-up, on a\n"
                "   forwarded signal and on a stop, placed first in its text.\n"
                "   Written by tests/bench/hot_text.py (callgrind); see there. */\n")
        f.write("SECTIONS\n{\n  .text.byed_hot :\n  {\n")
        f.write("\n".join(lines))
        f.write("\n  }\n}\nINSERT BEFORE .text;\n")
    print("%d input sections, %d bytes -> %s" % (len(lines), size, out))


if __name__ == "__main__":
    main()
