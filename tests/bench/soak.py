#!/usr/bin/env python3
"""Soak: a long run of upgrades under load, nothing lost, nothing growing.

    soak.py BYED BYESERVER [SECONDS] [UPGRADES]     (default 600 s, 600)

wrk runs against the bye-protocol test server under byed for SECONDS while
byed is upgraded UPGRADES times, evenly spread. Every 10 s byed's RSS and
fd count are sampled. Prints failed requests, upgrades done, and the first
and last samples. Exits 1 if a request failed, an upgrade did not complete,
or RSS/fds grew (fds at all; RSS by more than 512 KiB). Not a ctest test.
"""

import os
import signal
import subprocess
import sys
import time

from bench_upgrade import parse, start_byed  # shared with the benchmark


def sample(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = int(next(l for l in f if l.startswith("VmRSS")).split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def main():
    byed, server = sys.argv[1], sys.argv[2]
    seconds = int(sys.argv[3]) if len(sys.argv) > 3 else 600
    upgrades = int(sys.argv[4]) if len(sys.argv) > 4 else 600
    b, port = start_byed(byed, server, [], os.environ)
    w = subprocess.Popen(["wrk", "-t2", "-c16", f"-d{seconds}s",
                          f"http://127.0.0.1:{port}/"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    time.sleep(1)
    first = sample(b.pid)
    samples = [first]
    interval = (seconds - 3) / upgrades
    done = failed = 0
    next_sample = time.monotonic() + 10
    for _ in range(upgrades):
        tick = time.monotonic() + interval
        b.send_signal(signal.SIGUSR1)
        for line in b.stderr:
            if "upgrade done" in line:
                done += 1
                break
            if "upgrade failed" in line:
                failed += 1
                break
        if time.monotonic() >= next_sample:
            samples.append(sample(b.pid))
            next_sample += 10
        time.sleep(max(0.0, tick - time.monotonic()))
    out, _ = w.communicate()
    last = sample(b.pid)
    b.send_signal(signal.SIGTERM)
    b.wait(timeout=30)
    _, total, errors = parse(out)
    print(f"soak: {seconds}s, {upgrades} upgrades requested")
    print(f"requests {total}, failed {errors}")
    print(f"upgrades done {done}, failed {failed}")
    print(f"byed RSS KiB first {first[0]} last {last[0]} "
          f"(max {max(s[0] for s in samples + [last])})")
    print(f"byed fds     first {first[1]} last {last[1]} "
          f"(max {max(s[1] for s in samples + [last])})")
    ok = (errors == 0 and done == upgrades and last[1] <= first[1]
          and last[0] - first[0] <= 512)
    print("soak: OK" if ok else "soak: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
