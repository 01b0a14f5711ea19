#!/usr/bin/env python3
"""Workers: throughput of copies of a single-threaded server on one held
socket, and upgrades of 4 workers under load.

    bench_workers.py BYED [SECONDS] [N]

The server is tests/integration/servers/warm_http.py with no warm-up:
python's http.server, one request at a time, on the socket at its fd 3
(WARM_WORKER_INFO=1: the socket does not block, as copies share it). The
load is wrk -t2 -c16 for SECONDS (default 10) per run; the server answers
HTTP/1.0, a connection per request.

1. throughput: the server alone (no byed, the socket on its fd 3 all the
   same), then under `byed --workers W` for W = 1, 2, 4 and N (default: the
   CPUs byed may run on, what `--workers auto` gives): requests/s, the
   ratio to the server alone, failed requests;
2. upgrades under load with 4 workers, all at once and one at a time
   (`--upgrade-batch 1`): wrk with no upgrade (steady state), then wrk
   while `byed ctl upgrade` runs back to back; upgrades done, failed
   requests, requests/s of both and their ratio.
Runs repeat in BENCH_ROUNDS rounds (default 3), alternating; figures are
the rounds' medians. Not a test: figures move with the machine's load.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from bench_ready import SERVER, server_env, start_alone, wait_until
from bench_upgrade import free_port, parse, wrk


def ready_workers(byed, control):
    """Ready workers of byed's serving generation (-1: no answer yet)."""
    r = subprocess.run([byed, "ctl", "--control", control, "--json",
                        "status"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return -1
    s = json.loads(r.stdout)
    return sum(w["state"] == "ready" for g in s["generations"]
               if g.get("current") for w in g["workers"])


def start_workers(byed, n, extra, env, tmp):
    """byed --workers n in front of the server; (process, port, control)
    once all n are ready. Its log goes to a file in tmp."""
    port = free_port()
    control = os.path.join(tmp, "ctl.sock")
    log = open(os.path.join(tmp, f"byed-{len(os.listdir(tmp))}.log"), "w")
    b = subprocess.Popen([byed, "-l", f"127.0.0.1:{port}", "--control",
                          control, "--workers", str(n), *extra, "--",
                          *SERVER], env=env, stdout=subprocess.DEVNULL,
                         stderr=log)
    log.close()
    wait_until(lambda: b.poll() is not None or
               ready_workers(byed, control) == n, 120, f"{n} ready workers")
    if b.poll() is not None:
        raise SystemExit(f"byed --workers {n} exited {b.returncode}")
    return b, port, control


def stop(p):
    p.terminate()
    p.wait(60)


def load(port, seconds):
    """wrk for `seconds`: (requests/s, requests, failed)."""
    out, _ = wrk(port, seconds).communicate()
    return parse(out)


def upgrading(byed, control, port, seconds):
    """wrk for `seconds` while upgrades run back to back: ((requests/s,
    requests, failed), upgrades done, upgrades failed)."""
    w = wrk(port, seconds)
    done = failed = 0
    while w.poll() is None:
        r = subprocess.run([byed, "ctl", "--control", control, "upgrade"],
                           capture_output=True, text=True, timeout=300)
        done += r.returncode == 0
        failed += r.returncode != 0
    out, _ = w.communicate()
    return parse(out), done, failed


def main():
    byed = sys.argv[1]
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    cpus = int(sys.argv[3]) if len(sys.argv) > 3 else len(
        os.sched_getaffinity(0))
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    if not shutil.which("wrk"):
        raise SystemExit("bench_workers: needs wrk (Debian's wrk)")
    counts = sorted({1, 2, 4, cpus})
    modes = [("all at once", []), ("one at a time", ["--upgrade-batch", "1"])]
    tmp = tempfile.mkdtemp(prefix="bench-workers-")
    env = dict(server_env(tmp, "ok 0"), WARM_WORKER_INFO="1")
    alone = []
    under = {n: [] for n in counts}
    steady = {m: [] for m, _ in modes}
    moving = {m: [] for m, _ in modes}
    upgrades = {m: [0, 0] for m, _ in modes}
    try:
        for _ in range(rounds):
            p, port = start_alone(env)
            alone.append(load(port, seconds))
            stop(p)
            for n in counts:
                b, port, _ = start_workers(byed, n, [], env, tmp)
                under[n].append(load(port, seconds))
                stop(b)
            for name, extra in modes:
                b, port, control = start_workers(byed, 4, extra, env, tmp)
                steady[name].append(load(port, seconds))
                figures, done, failed = upgrading(byed, control, port,
                                                  seconds)
                moving[name].append(figures)
                upgrades[name][0] += done
                upgrades[name][1] += failed
                stop(b)
    finally:
        shutil.rmtree(tmp, True)

    def rps(runs):
        return statistics.median(r[0] for r in runs)

    def failed(runs):
        return sum(r[2] for r in runs)

    print(f"server: python http.server on fd 3, one request at a time; "
          f"wrk -t2 -c16, {seconds} s per run; {rounds} rounds, medians; "
          f"{cpus} CPUs\n")
    head = f"{'run':<28} {'req/s':>9} {'vs alone':>9} {'failed':>7}"
    print(head)
    print("-" * len(head))
    base = rps(alone)
    print(f"{'server alone':<28} {base:>9.0f} {1:>9.3f} {failed(alone):>7}")
    for n in counts:
        name = f"byed --workers {n}" + (" (auto)" if n == cpus else "")
        print(f"{name:<28} {rps(under[n]):>9.0f} "
              f"{rps(under[n]) / base:>9.3f} {failed(under[n]):>7}")
    print(f"\nupgrades under wrk, 4 workers: {seconds} s steady, then "
          f"{seconds} s of back-to-back `byed ctl upgrade`\n")
    head = (f"{'upgrade':<16} {'done':>5} {'failed':>7} {'steady req/s':>13} "
            f"{'upgrading':>10} {'ratio':>6} {'failed req':>11}")
    print(head)
    print("-" * len(head))
    for name, _ in modes:
        ratios = [u[0] / s[0] for s, u in zip(steady[name], moving[name])]
        print(f"{name:<16} {upgrades[name][0]:>5} {upgrades[name][1]:>7} "
              f"{rps(steady[name]):>13.0f} {rps(moving[name]):>10.0f} "
              f"{statistics.median(ratios):>6.3f} "
              f"{failed(steady[name]) + failed(moving[name]):>11}")


if __name__ == "__main__":
    main()
