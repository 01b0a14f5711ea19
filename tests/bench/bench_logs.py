#!/usr/bin/env python3
"""--log-child throughput: a child writing 100-byte lines as fast as it can,
to a pipe this script drains, directly and through byed raw, tag and json.

    bench_logs.py BYED [MB] [RUNS]

The child is `yes LINE | head -n N` then a sleep, so byed is still there to
be measured once every line arrived. For each setup: the payload rate (MB/s
of the child's bytes), the ratio to writing directly, and byed's own CPU
(user + system, from /proc, children not counted) per MB of payload. The
best of RUNS runs. Not a test: prints a table.
"""

import os
import signal
import subprocess
import sys
import time

LINE = "y" * 99  # with its newline: 100 bytes


def run(byed, mode, lines):
    writer = ["sh", "-c", f"yes {LINE} | head -n {lines}; exec sleep 600"]
    args = writer if mode == "direct" else [
        byed, "--name", "w", "--log-child", mode, "-q", "--"] + writer
    r, w = os.pipe()
    start = time.monotonic()
    p = subprocess.Popen(args, stdout=w, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL)
    os.close(w)
    seen = 0
    while seen < lines:
        chunk = os.read(r, 1 << 20)
        if not chunk:
            break
        seen += chunk.count(b"\n")
    elapsed = time.monotonic() - start
    cpu = None
    if mode != "direct":
        with open(f"/proc/{p.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    p.send_signal(signal.SIGTERM)
    p.wait()
    os.close(r)
    if seen != lines:
        raise SystemExit(f"{mode}: {seen} of {lines} lines")
    return elapsed, cpu


def main():
    byed = sys.argv[1]
    mb = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    lines = mb * 10_000
    best = {}
    for _ in range(runs):
        for mode in ("direct", "raw", "tag", "json"):
            t, cpu = run(byed, mode, lines)
            if mode not in best or t < best[mode][0]:
                best[mode] = (t, cpu)
    direct = mb / best["direct"][0]
    print(f"{mb} MB of 100-byte lines into a pipe, best of {runs}")
    print(f"{'setup':8} {'MB/s':>8} {'x direct':>9} {'byed CPU ms/MB':>15}")
    for mode in ("direct", "raw", "tag", "json"):
        t, cpu = best[mode]
        rate = mb / t
        per_mb = "-" if cpu is None else f"{cpu * 1000 / mb:.2f}"
        print(f"{mode:8} {rate:8.0f} {rate / direct:9.2f} {per_mb:>15}")


if __name__ == "__main__":
    main()
