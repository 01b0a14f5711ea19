"""Keeping service through crashes and hangs: --restart on the held sockets
(no connection refused), back-off and the burst limit, the watchdog, and
what is relayed to systemd."""

import json
import os
import signal
import socket
import subprocess
import threading
import time
import unittest

from byedtest import (BYED, GenerationsTestCase, held_address, helper,
                      http_get, http_get_retry, run_byed, wait_until)
from test_upgrade import UpgradeTestCase


def port_of(b):
    return int(held_address(b).rsplit(":", 1)[1])


def one_request(port):
    """'ok' and the body, 'refused' (nobody held the port) or 'failed'
    (connected, then lost: the request was in flight on a process that
    crashed)."""
    try:
        status, body = http_get("127.0.0.1", port, timeout=30)
    except ConnectionRefusedError:
        return "refused", None
    except OSError:
        return "failed", None
    return ("ok", body.strip()) if status == 200 else ("failed", None)


class NotifyRecorder:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, tmp):
        self.path = os.path.join(tmp, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []

    def until(self, predicate, timeout=30):
        """Reads messages until one satisfies predicate; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no such notify message; got {self.messages}")
            self.sock.settimeout(left)
            msg = self.sock.recv(4096).decode()
            self.messages.append(msg)
            if predicate(msg):
                return msg

    def close(self):
        self.sock.close()


class RestartTests(UpgradeTestCase):
    def test_crashes_under_load_refuse_no_connection(self):
        ctl = os.path.join(self.tmp, "ctl.sock")
        b = self.start(["-l", "127.0.0.1:0", "--ready", "message",
                        "--restart", "on-failure", "--restart-delay", "1ms",
                        "--restart-limit", "1000/1m", "--control", ctl, "--",
                        helper("byeserver")],
                       env={"BYESERVER_CRASH_AFTER": "25"})
        port = port_of(b)
        b.read_line("gen=1 ready", stream="err")
        counts = {"ok": 0, "refused": 0, "failed": 0}
        pids = set()
        stop = threading.Event()

        def client():
            while not stop.is_set():
                outcome, body = one_request(port)
                counts[outcome] += 1
                if body:
                    pids.add(body)

        threads = [threading.Thread(target=client) for _ in range(2)]
        for t in threads:
            t.start()
        try:
            restarts = 0
            while restarts < 12:
                b.read_line("restarted: ready", stream="err", timeout=60)
                restarts += 1
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
        self.assertIsNone(b.proc.poll(), "byed keeps running")
        self.assertEqual(counts["refused"], 0, counts)
        # The only failures: requests in flight on a crashing process, one
        # per client per crash at most.
        self.assertLessEqual(counts["failed"], 2 * (restarts + 1), counts)
        self.assertGreater(counts["ok"], 12 * 20, counts)
        self.assertGreaterEqual(len(pids), 12)
        def status():
            p = subprocess.run([BYED, "ctl", "--control", ctl, "--json",
                                "status"], capture_output=True, text=True,
                               timeout=30)
            return json.loads(p.stdout)

        # The clients' last requests may have crashed one more: wait until a
        # generation serves again before the stop, which then is a clean one.
        def serving():
            s = status()
            ready = [g for g in s["generations"]
                     if g["current"] and g["state"] == "ready"]
            return s if ready and s["restarts"]["next_attempt"] is None else None
        status = wait_until(serving, timeout=60, what="a serving generation")
        self.assertGreaterEqual(status["restarts"]["count"], 12)
        self.assertIn("killed by signal ABRT", status["restarts"]["last_reason"])
        text = subprocess.run([BYED, "ctl", "--control", ctl, "status"],
                              capture_output=True, text=True, timeout=30).stdout
        self.assertIn("restarts: ", text)
        b.signal(signal.SIGTERM)
        self.assertEqual(b.wait(timeout=30)[0], 0)

    def test_crash_loop_gives_up_with_the_childs_status(self):
        code, _, err = run_byed(["--restart", "on-failure", "--restart-delay",
                                 "10ms", "--restart-limit", "3/1m", "--",
                                 "/bin/sh", "-c", "exit 3"], timeout=60)
        self.assertEqual(code, 3, err)
        self.assertEqual(err.count(" restarting "), 3, err)
        self.assertIn("restart limit reached: giving up", err)
        # The delays doubled: 10ms, 20ms, 40ms.
        for d in ("in=10ms", "in=20ms", "in=40ms"):
            self.assertIn(d, err)

    def test_term_during_back_off_exits_at_once(self):
        b = self.start(["--restart", "on-failure", "--restart-delay", "1h",
                        "--", "/bin/sh", "-c", "exit 4"])
        b.read_line("restarting", stream="err")
        b.signal(signal.SIGTERM)
        code, _, err = b.wait(timeout=30)  # far below the 1 h back-off
        self.assertEqual(code, 4, err)

    def test_new_generation_dying_after_taking_over_is_restarted(self):
        ctl = os.path.join(self.tmp, "ctl.sock")
        b, port, first = self.start_bye(["--ready", "message", "--restart",
                                         "on-failure", "--control", ctl])
        self.set_mode("crash 1")
        outcome, line = self.upgrade(b)
        self.assertEqual(outcome, "done", line)
        self.set_mode("ok")  # what the restart will start
        # Once gen 1 has drained, only gen 2 accepts: this request crashes
        # it, and is answered by gen 3 (or waits in the backlog for it).
        b.read_line("gen=1 exited", stream="err", timeout=30)
        http_get_retry("127.0.0.1", port, timeout=30)
        b.read_line("restarting", stream="err", timeout=30)
        b.read_line("restarted: ready", stream="err", timeout=30)
        status, body = http_get_retry("127.0.0.1", port, timeout=30)
        self.assertEqual(status, 200)
        self.assertIsNone(b.proc.poll())
        b.signal(signal.SIGTERM)
        self.assertEqual(b.wait(timeout=30)[0], 0)


PINGER = r"""
import os, socket, sys, time
a = os.environ["NOTIFY_SOCKET"]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
addr = "\0" + a[1:]
print("env", os.environ.get("WATCHDOG_USEC"), os.environ.get("WATCHDOG_PID"),
      os.getpid(), flush=True)
s.sendto(b"READY=1\nSTATUS=serving", addr)
for i in range(int(sys.argv[1])):
    time.sleep(0.05)
    s.sendto(b"WATCHDOG=1", addr)
s.sendto(b"STATUS=done pinging", addr)
time.sleep(1000)
"""


class WatchdogTests(GenerationsTestCase):
    def start_with_systemd(self, pings, extra_env=None, prefix=()):
        rec = NotifyRecorder(self.tmp)
        self.addCleanup(rec.close)
        env = {"NOTIFY_SOCKET": rec.path, "WATCHDOG_USEC": "200000"}
        env.update(extra_env or {})
        b = self.start(["--ready", "message", "--", "/usr/bin/python3", "-c",
                        PINGER, str(pings)], env=env, prefix=prefix)
        # byedtest drops NOTIFY_SOCKET from the environment it passes: put
        # it back through env= above (it is applied after).
        return b, rec

    def check_relay(self, b, rec, pings):
        usec, wpid, pid = b.read_line("env ").split()[1:]
        self.assertEqual(usec, "200000")
        self.assertEqual(wpid, pid, "WATCHDOG_PID is the generation's own pid")
        rec.until(lambda m: m.startswith("READY=1"))
        rec.until(lambda m: "STATUS=gen 1: done pinging" in m)
        relayed = [m for m in rec.messages if m == "WATCHDOG=1"]
        self.assertEqual(len(relayed), pings, rec.messages)
        # Silence from the program is silence towards systemd: byed never
        # pings for itself (its own would come every 100 ms here).
        b.signal(signal.SIGTERM)
        rec.until(lambda m: m.startswith("STOPPING=1"))
        self.assertEqual(len([m for m in rec.messages if m == "WATCHDOG=1"]),
                         pings, rec.messages)
        b.wait(timeout=30)

    def test_watchdog_pings_are_relayed_only_while_the_child_pings(self):
        b, rec = self.start_with_systemd(10)
        self.check_relay(b, rec, 10)

    def test_watchdog_pid_of_byed_as_socket_activation_sets_it(self):
        # WATCHDOG_PID=byed's own pid (systemd sets it to the main pid).
        b, rec = self.start_with_systemd(
            5, prefix=["/bin/sh", "-c", 'WATCHDOG_PID=$$ exec "$0" "$@"'])
        self.check_relay(b, rec, 5)

    def test_watchdog_of_another_pid_is_not_ours(self):
        b, rec = self.start_with_systemd(3, extra_env={"WATCHDOG_PID": "1"})
        usec, wpid, _ = b.read_line("env ").split()[1:]
        self.assertEqual((usec, wpid), ("None", "None"))
        rec.until(lambda m: "STATUS=gen 1: done pinging" in m)
        self.assertNotIn("WATCHDOG=1", rec.messages)
        b.signal(signal.SIGTERM)
        b.wait(timeout=30)

    def test_own_watchdog_kills_a_silent_generation_and_restarts_it(self):
        count = os.path.join(self.tmp, "count")
        # Generation 1 pings once and hangs; later ones ping forever.
        prog = (f"import os, socket, time\n"
                f"n = int(open({count!r}).read()) if os.path.exists({count!r}) else 0\n"
                f"open({count!r}, 'w').write(str(n + 1))\n"
                "a = os.environ['NOTIFY_SOCKET']\n"
                "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
                "s.sendto(b'READY=1', '\\0' + a[1:])\n"
                "print('gen', n, os.getpid(), flush=True)\n"
                "while True:\n"
                "    s.sendto(b'WATCHDOG=1', '\\0' + a[1:])\n"
                "    time.sleep(1000 if n == 0 else 0.05)\n")
        b = self.start(["--ready", "message", "--watchdog", "500ms",
                        "--stop-timeout", "2s", "--restart", "on-failure",
                        "--", "/usr/bin/python3", "-c", prog])
        first = int(b.read_line("gen 0").split()[2])
        line = b.read_line("hung", stream="err", timeout=30)
        self.assertIn("no WATCHDOG=1 for 500ms", line)
        line = b.read_line("restarting", stream="err", timeout=30)
        self.assertIn("killed by signal ABRT", line)
        second = int(b.read_line("gen 1").split()[2])
        self.assertNotEqual(first, second)
        b.read_line("restarted: ready", stream="err", timeout=30)
        wait_until(lambda: not os.path.exists(f"/proc/{first}"), what="gen 1 gone")
        b.signal(signal.SIGTERM)
        code, _, err = b.wait(timeout=30)
        self.assertEqual(err.count("hung"), 0, err)  # the pinging one is fine
        self.assertEqual(code, 128 + signal.SIGTERM)

    def test_own_watchdog_without_restart_exits_with_abrt(self):
        prog = ("import os, socket, time\n"
                "a = os.environ['NOTIFY_SOCKET']\n"
                "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
                "s.sendto(b'READY=1\\nWATCHDOG=1', '\\0' + a[1:])\n"
                "time.sleep(1000)\n")
        code, _, err = run_byed(["--ready", "message", "--watchdog", "300ms",
                                 "--", "/usr/bin/python3", "-c", prog],
                                timeout=60)
        self.assertEqual(code, 128 + signal.SIGABRT, err)
        self.assertIn("hung", err)


if __name__ == "__main__":
    unittest.main()
