#!/usr/bin/env python3
"""Crash recovery, side by side: byed --restart on the held socket vs. the
container-restart model (a plain wrapper, restarted by a loop, the program
binding its port anew each time).

    bench_restart.py BYED BYESERVER [CRASHES]

The bye-protocol test server aborts on every 8000th request (so each
generation is ready over a second: a crash, not a crash loop, and the
back-off stays at --restart-delay). One client on
127.0.0.1 sends requests back to back and records each outcome: ok,
refused (nothing listened: the connection was turned away), failed (in
flight on the crashing process). Prints, for each setup, the refused and
failed requests over CRASHES crashes, and the recovery time as the client
sees it (from the failed request to the next answered one), p50/p99.
Not a test: prints a table.
"""

import os
import socket
import statistics
import subprocess
import sys
import time

from bench_upgrade import free_port, start_byed


def request(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
    except ConnectionRefusedError:
        return "refused"
    except OSError:
        return "failed"
    try:
        s.settimeout(10)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = s.recv(4096)
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return "ok" if data.startswith(b"HTTP/1.1 200") else "failed"
    except OSError:
        return "failed"
    finally:
        s.close()


def drive(port, crashes):
    """Requests until `crashes` outages were seen; returns (counts, gaps)."""
    counts = {"ok": 0, "refused": 0, "failed": 0}
    gaps = []
    down_since = None
    deadline = time.monotonic() + 300
    while len(gaps) < crashes and time.monotonic() < deadline:
        t = time.monotonic()
        outcome = request(port)
        counts[outcome] += 1
        if outcome == "ok":
            if down_since is not None:
                gaps.append(time.monotonic() - down_since)
                down_since = None
        elif down_since is None:
            down_since = t
        if outcome == "refused":
            time.sleep(0.001)  # a refused connect returns at once: no spin
    return counts, gaps


def wait_port(port):
    end = time.monotonic() + 10
    while request(port) != "ok":
        if time.monotonic() > end:
            raise SystemExit(f"nothing serves on {port}")
        time.sleep(0.01)


def with_byed(byed, server, crashes):
    env = dict(os.environ, BYESERVER_CRASH_AFTER="8000")
    b, port = start_byed(byed, server, ["--restart", "on-failure",
                                        "--restart-delay", "1ms",
                                        "--restart-limit", "100000/1m"], env,
                         drain=True)
    try:
        return drive(port, crashes)
    finally:
        b.terminate()
        b.wait()


def with_loop(server, crashes):
    port = free_port()
    env = dict(os.environ, BYESERVER_CRASH_AFTER="8000",
               BYESERVER_PORT=str(port))
    env.pop("LISTEN_FDS", None)
    loop = subprocess.Popen(
        ["/bin/sh", "-c", 'while :; do tini -s -- "$0"; done', server],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    try:
        wait_port(port)
        return drive(port, crashes)
    finally:
        os.killpg(loop.pid, 9)
        loop.wait()


def row(name, counts, gaps):
    ms = sorted(g * 1000 for g in gaps)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))] if ms else float("nan")
    print(f"{name:<28} {len(gaps):>7} {counts['refused']:>8} "
          f"{counts['failed']:>7} {counts['ok']:>7} "
          f"{statistics.median(ms) if ms else float('nan'):>9.2f} {p99:>9.2f}")


def main():
    byed, server = sys.argv[1], sys.argv[2]
    crashes = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    print(f"{'setup':<28} {'crashes':>7} {'refused':>8} {'failed':>7} "
          f"{'ok':>7} {'gap p50':>9} {'gap p99':>9}  (ms)")
    b_counts, b_gaps = with_byed(byed, server, crashes)
    row("byed --restart on-failure", b_counts, b_gaps)
    l_counts, l_gaps = with_loop(server, crashes)
    row("tini, restarted by a loop", l_counts, l_gaps)
    if b_gaps and l_gaps:
        print(f"ratio of recovery p50 (byed / loop): "
              f"{statistics.median(b_gaps) / statistics.median(l_gaps):.2f}")
    print(f"refused connections: byed {b_counts['refused']}, "
          f"loop {l_counts['refused']}")


if __name__ == "__main__":
    main()
