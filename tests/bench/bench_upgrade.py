#!/usr/bin/env python3
"""Zero-downtime upgrades under load, side by side with a naive restart.

    bench_upgrade.py BYED BYESERVER [SECONDS] [UPGRADES]

1. the bye-protocol test server alone under wrk: requests/s (baseline);
2. the same server under byed, with UPGRADES upgrades (USR1) spread over
   the run: requests/s (ratio to baseline), failed requests, and the upgrade
   overhead: time from USR1 to the old generation's drain signal, minus the
   new generation's own start-to-ready time (main() to its ready byte),
   split into USR1 -> the new program's main() and ready -> drain;
   1 and 2 alternate BENCH_ROUNDS times (default 3), the ratio is the
   median's;
3. a naive kill-and-restart of the same server, as often: its errors.
Not a test: prints a table.
"""

import datetime
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wrk(port, seconds):
    return subprocess.Popen(
        ["wrk", "-t2", "-c16", f"-d{seconds}s", f"http://127.0.0.1:{port}/"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def parse(out):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                  r"timeout (\d+)", out)
    errors = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(m.group(1)) if m else 0
    return rps, total, errors


def wait_port(port, deadline=10):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.01)
    raise SystemExit(f"nothing listens on {port}")


def baseline(server, seconds):
    port = free_port()
    env = dict(os.environ, BYESERVER_PORT=str(port))
    p = subprocess.Popen([server], env=env, stdout=subprocess.DEVNULL)
    wait_port(port)
    out, _ = wrk(port, seconds).communicate()
    p.terminate()
    p.wait()
    return parse(out)


def start_byed(byed, server, args, env, drain=False,
               stdout=subprocess.DEVNULL):
    """byed (JSON log) in front of server on 127.0.0.1:0, --ready message:
    returns the process and the port, once generation 1 is ready. drain:
    the rest of its log is read and dropped (nobody else reads it)."""
    env = dict(env)
    env.pop("NOTIFY_SOCKET", None)
    b = subprocess.Popen([byed, "-l", "127.0.0.1:0", "--ready", "message",
                          "--log-format", "json"] + list(args) + ["--", server],
                         env=env, stdout=stdout, stderr=subprocess.PIPE,
                         text=True)
    port = None
    for line in b.stderr:
        m = re.search(r'"address":"127\.0\.0\.1:(\d+)"', line)
        if m:
            port = int(m.group(1))
        if '"msg":"ready"' in line:
            if drain:
                threading.Thread(target=lambda: [None for _ in b.stderr],
                                 daemon=True).start()
            return b, port
    raise SystemExit("byed ended before its first generation was ready")


def with_byed(byed, server, seconds, upgrades):
    env = dict(os.environ, BYESERVER_TIMES="1")
    # The servers' "times"/"drain" lines come on stdout (a pipe: a few KB).
    b, port = start_byed(byed, server, ["-v"], env, stdout=subprocess.PIPE)
    w = wrk(port, seconds)
    time.sleep(0.5)
    interval = (seconds - 1.5) / upgrades
    usr1_at, forked_at = [], []
    done = 0
    for _ in range(upgrades):
        tick = time.monotonic() + interval
        usr1_at.append(time.monotonic())
        b.send_signal(signal.SIGUSR1)
        for line in b.stderr:
            m = re.search(r'"msg":"started".*"time":"([^"]+)Z"', line)
            if m:
                # byed's log time is CLOCK_REALTIME: to monotonic.
                wall = datetime.datetime.fromisoformat(m.group(1)).replace(
                    tzinfo=datetime.timezone.utc).timestamp()
                forked_at.append(wall - (time.time() - time.monotonic()))
            if "upgrade done" in line:
                done += 1
                break
            if "upgrade failed" in line:
                break
        time.sleep(max(0.0, tick - time.monotonic()))
    out, _ = w.communicate()
    b.send_signal(signal.SIGTERM)
    stdout, _ = b.communicate(timeout=30)
    times = {}
    drains = {}
    order = []
    for line in stdout.splitlines():
        m = re.match(r"times pid=(\d+) main=([\d.]+) ready=([\d.]+)", line)
        if m:
            times[int(m.group(1))] = (float(m.group(2)), float(m.group(3)))
            order.append(int(m.group(1)))
        m = re.match(r"drain pid=(\d+) t=([\d.]+)", line)
        if m:
            drains[int(m.group(1))] = float(m.group(2))
    # Per upgrade, in ms: USR1 -> the new program's main() (byed's reaction,
    # fork, exec and the program's own loading), and its ready byte -> the
    # old generation's drain signal (byed's reaction alone).
    to_main, to_drain, to_fork = [], [], []
    for i, t_usr1 in enumerate(usr1_at[:done]):
        old, new = order[i], order[i + 1]
        if old in drains and new in times:
            to_main.append((times[new][0] - t_usr1) * 1000)
            to_drain.append((drains[old] - times[new][1]) * 1000)
    for t_usr1, t_fork in zip(usr1_at, forked_at):
        to_fork.append((t_fork - t_usr1) * 1000)
    return parse(out), done, (to_main, to_drain, to_fork)


def naive(server, seconds, restarts):
    port = free_port()
    env = dict(os.environ, BYESERVER_PORT=str(port))
    p = subprocess.Popen([server], env=env, stdout=subprocess.DEVNULL)
    wait_port(port)
    w = wrk(port, seconds)
    time.sleep(0.5)
    interval = (seconds - 1.5) / restarts
    for _ in range(restarts):
        tick = time.monotonic() + interval
        p.terminate()
        p.wait()
        p = subprocess.Popen([server], env=env, stdout=subprocess.DEVNULL)
        time.sleep(max(0.0, tick - time.monotonic()))
    out, _ = w.communicate()
    p.terminate()
    p.wait()
    return parse(out)


def pcts(xs):
    if not xs:
        return "-"
    q = statistics.quantiles(xs, n=100) if len(xs) > 1 else xs * 99
    return f"p50 {statistics.median(xs):.2f} ms, p99 {q[98]:.2f} ms"


def main():
    byed, server = sys.argv[1], sys.argv[2]
    seconds = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    upgrades = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    # Alternating rounds, the server alone then under byed: one run of each
    # is within the noise of the machine; the ratio is the median's.
    alone, under, to_main, to_drain, to_fork = [], [], [], [], []
    done_total = errors_total = 0
    for _ in range(rounds):
        alone.append(baseline(server, seconds))
        (rps, total, errors), done, (m, d, f) = with_byed(
            byed, server, seconds, upgrades)
        under.append((rps, total, errors))
        done_total += done
        errors_total += errors
        to_main += m
        to_drain += d
        to_fork += f
    nrps, ntotal, nerrors = naive(server, seconds, upgrades)
    print(f"wrk -t2 -c16 for {seconds}s each; {upgrades} upgrades/restarts "
          f"per run; {rounds} alternating rounds\n")
    print(f"{'run':<28} {'req/s':>10} {'requests':>10} {'failed':>8}")
    for i in range(rounds):
        a, u = alone[i], under[i]
        print(f"{'server alone':<28} {a[0]:>10.0f} {a[1]:>10} {a[2]:>8}")
        print(f"{'under byed, upgrading':<28} {u[0]:>10.0f} {u[1]:>10} "
              f"{u[2]:>8}")
    print(f"{'naive kill-and-restart':<28} {nrps:>10.0f} {ntotal:>10} "
          f"{nerrors:>8}")
    ratios = [u[0] / a[0] for a, u in zip(alone, under)]
    print(f"\nthroughput ratio byed/alone: median {statistics.median(ratios):.3f}"
          f" (rounds: {', '.join(f'{r:.3f}' for r in ratios)})")
    print(f"upgrades completed: {done_total}/{upgrades * rounds}, "
          f"failed requests under byed: {errors_total}")
    total = [a + b for a, b in zip(to_main, to_drain)]
    print(f"USR1 -> byed has forked the new generation (byed's log): "
          f"{pcts(to_fork)}")
    print(f"USR1 -> new program's main() (that, exec, its loading): "
          f"{pcts(to_main)}")
    print(f"its ready byte -> old generation's drain signal (byed alone): "
          f"{pcts(to_drain)}")
    print(f"upgrade overhead (both; the program's own start-to-ready left "
          f"out): {pcts(total)}")


if __name__ == "__main__":
    main()
