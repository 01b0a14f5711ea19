#!/usr/bin/env python3
"""What each --ready rule costs the clients of a server that warms up.

    bench_ready.py BYED [UPGRADES]

The server is tests/integration/servers/warm_http.py: python's http.server
on the held socket (fd 3), which sleeps 2 s (WARM_SECONDS) before it
serves and knows no protocol (or, for `message`, writes bye's ready byte
once it serves). One client thread sends requests back to back, each on a
fresh connection, and records each request's latency (connect to the last
byte) and whether it failed (refused, reset, timed out, not 200). For each
ready mode byed runs the server and `byed ctl upgrade` is run UPGRADES
times (default 3), each once the previous new generation serves and the old
one is gone. The baseline is the server alone (no byed, the socket on its
fd 3 all the same) under the same client for as long. Prints one table:
requests, failed, the worst latency, and the worst minus the baseline's.
Not a test: figures move with the machine's load.
"""

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from bench_upgrade import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
SERVERS = os.path.join(HERE, "..", "integration", "servers")
SERVER = [sys.executable, os.path.join(SERVERS, "warm_http.py")]
WARM = os.environ.get("WARM_SECONDS", "2")
# After an upgrade: the new generation serves, the old one is gone, then
# this much steady state before the next.
STEADY = 0.5


def request(port):
    """One GET on a fresh connection: (ok, seconds, pid or None)."""
    t = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return False, time.monotonic() - t, None
    dt = time.monotonic() - t
    if not data.startswith(b"HTTP/1.0 200"):
        return False, dt, None
    return True, dt, int(re.search(rb"\bpid=(\d+)", data).group(1))


class ClientLoop:
    """Requests one after another until stopped."""

    def __init__(self, port):
        self.port = port
        self.requests = self.failed = 0
        self.worst = 0.0
        self.last_pid = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            ok, dt, pid = request(self.port)
            self.requests += 1
            self.worst = max(self.worst, dt)
            if ok:
                self.last_pid = pid
            else:
                self.failed += 1
                time.sleep(0.001)  # a refused connect returns at once

    def stop(self):
        self._stop.set()
        self._thread.join(60)


def wait_until(pred, timeout, what):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.005)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def serves(port):
    return request(port)[0]


def server_env(tmp, mode):
    """The environment for warm_http.py: its mode file (in tmp) says `mode`;
    none of byed's or systemd's variables from outside."""
    mode_file = os.path.join(tmp, "mode")
    with open(mode_file, "w") as f:
        f.write(mode + "\n")
    env = dict(os.environ, WARM_MODE_FILE=mode_file,
               PYTHONPATH=os.path.abspath(SERVERS))
    for k in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "UPGRADE_FD",
              "BYED_WORKERS", "BYED_WORKER", "BYED_UPGRADE_BATCH"):
        env.pop(k, None)
    return env


def start_alone(env, server=SERVER):
    """The server alone on a listening socket at its fd 3 (sh moves it from
    stdin), as byed would pass it: (process, port) once it serves."""
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(128)
    port = lsock.getsockname()[1]
    p = subprocess.Popen(["/bin/sh", "-c", 'exec 3<&0 0</dev/null; exec "$@"',
                          "sh", *server], stdin=lsock, env=env,
                         stdout=subprocess.DEVNULL)
    lsock.close()
    wait_until(lambda: serves(port), 60, "the server alone to serve")
    return p, port


def baseline(seconds, env):
    """The server alone under the client loop for `seconds`."""
    p, port = start_alone(env)
    loop = ClientLoop(port)
    time.sleep(seconds)
    loop.stop()
    p.terminate()
    p.wait(30)
    return loop


def with_byed(byed, ready, env, upgrades, tmp):
    """byed in front of the server, `upgrades` upgrades under the client
    loop; returns (loop, upgrades that byed said were done, seconds)."""
    port = free_port()
    control = os.path.join(tmp, "ctl.sock")
    log = open(os.path.join(tmp, f"byed-{len(os.listdir(tmp))}.log"), "w")
    b = subprocess.Popen([byed, "-l", f"127.0.0.1:{port}", "--control",
                          control, *ready, "--", *SERVER], env=env,
                         stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_until(lambda: serves(port), 60, "generation 1 to serve")
        loop = ClientLoop(port)
        wait_until(lambda: loop.last_pid, 60, "a first answer")
        start = time.monotonic()
        done = 0
        for _ in range(upgrades):
            old = loop.last_pid
            r = subprocess.run([byed, "ctl", "--control", control, "upgrade"],
                               capture_output=True, text=True, timeout=120)
            done += r.returncode == 0
            wait_until(lambda: loop.last_pid != old and not alive(old), 60,
                       "the new generation to serve and the old one to go")
            time.sleep(STEADY)
        seconds = time.monotonic() - start
        loop.stop()
        return loop, done, seconds
    finally:
        b.terminate()
        b.wait(60)
        log.close()


def main():
    byed = sys.argv[1]
    upgrades = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    tmp = tempfile.mkdtemp(prefix="bench-ready-")
    env = server_env(tmp, f"ok {WARM}")
    probe = ("curl -fsS --max-time 1 http://$BYED_ADDRESS/ "
             "| grep -qx pid=$BYED_PID")
    modes = [
        ("--ready 1s", ["--ready", "1s"], {}),
        ("--ready message", ["--ready", "message"],
         {"WARM_READY_MESSAGE": "1"}),
        ("--ready accepting", ["--ready", "accepting"], {}),
        ("auto (default)", [], {}),
        ("--ready exec:curl, own pid", ["--ready", f"exec:{probe}"], {}),
        ("--ready exec:curl, any answer",
         ["--ready", "exec:curl -fsS --max-time 1 -o /dev/null "
          "http://$BYED_ADDRESS/"], {}),
    ]
    rows, durations = [], []
    for name, ready, extra in modes:
        loop, done, seconds = with_byed(byed, ready, dict(env, **extra),
                                        upgrades, tmp)
        durations.append(seconds)
        rows.append((name, f"{done}/{upgrades}", loop))
    alone = baseline(statistics.median(durations), env)
    shutil.rmtree(tmp, True)
    print(f"server: http.server on fd 3, {WARM} s warm-up; one client, "
          f"sequential requests on fresh connections; {upgrades} upgrades "
          f"per mode, {STEADY} s steady state after each\n")
    head = (f"{'mode':<30} {'upgrades':>8} {'requests':>9} {'failed':>7} "
            f"{'worst ms':>9} {'- alone ms':>10}")
    print(head)
    print("-" * len(head))
    print(f"{'server alone':<30} {'-':>8} {alone.requests:>9} "
          f"{alone.failed:>7} {alone.worst * 1000:>9.1f} {'-':>10}")
    for name, done, loop in rows:
        print(f"{name:<30} {done:>8} {loop.requests:>9} {loop.failed:>7} "
              f"{loop.worst * 1000:>9.1f} "
              f"{(loop.worst - alone.worst) * 1000:>+10.1f}")


if __name__ == "__main__":
    main()
