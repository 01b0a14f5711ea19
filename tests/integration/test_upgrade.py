"""Zero-downtime upgrades: new generation, readiness, drain, rollback,
coalescing, PIDFILE, under real load."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from byedtest import (ByedTestCase, alive, held_address, helper, http_get,
                      wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"


def zombies_of(ppid):
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == ppid:
            out.append(int(pid))
    return out


def wrk(port, seconds, connections=16):
    return subprocess.Popen(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency",
         f"http://127.0.0.1:{port}/"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wrk_result(p):
    out, _ = p.communicate(timeout=120)
    m = re.search(r"(\d+) requests in", out)
    requests = int(m.group(1)) if m else 0
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                  r"timeout (\d+)", out)
    if m:
        errors = sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non2xx = int(m.group(1)) if m else 0
    return requests, errors, non2xx, out


def port_of(b):
    return int(held_address(b).rsplit(":", 1)[1])


class UpgradeTestCase(ByedTestCase):
    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="byed-upgrade-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.mode_file = os.path.join(self.tmp, "mode")
        self.set_mode("ok")

    def set_mode(self, mode):
        with open(self.mode_file, "w") as f:
            f.write(mode + "\n")

    def start_bye(self, extra=(), program=None):
        b = self.start(["-l", "127.0.0.1:0", *extra, "--",
                        program or helper("byeserver")],
                       env={"BYESERVER_MODE_FILE": self.mode_file})
        port = port_of(b)
        pid = int(b.read_line("ready pid=").split("=")[1])
        b.read_line("gen=1 ready", stream="err")
        return b, port, pid

    def upgrade(self, b, timeout=30):
        """USR1, then the outcome line: ('done'|'failed', line)."""
        b.signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while True:
            line = b.read_line("upgrade ", stream="err",
                               timeout=max(0.1, deadline - time.monotonic()))
            if "upgrade done" in line:
                return "done", line
            if "upgrade failed" in line:
                return "failed", line

    def served_pid(self, port):
        status, body = http_get("127.0.0.1", port)
        self.assertEqual(status, 200)
        return int(body.strip().split("=")[1])

    def load_with_upgrades(self, b, port, seconds, interval):
        """wrk at full speed while upgrading every `interval` seconds;
        returns (upgrades done, wrk figures)."""
        w = wrk(port, seconds)
        self.addCleanup(lambda: w.poll() is None and w.kill())
        time.sleep(0.5)  # pacing: let wrk ramp up before the first upgrade
        done = 0
        end = time.monotonic() + seconds - 1.5
        while time.monotonic() < end:
            tick = time.monotonic() + interval
            outcome, line = self.upgrade(b)
            self.assertEqual(outcome, "done", line)
            done += 1
            time.sleep(max(0.0, tick - time.monotonic()))  # pacing, not sync
        return done, wrk_result(w)

    def assert_old_generations_gone(self, b, pids, current):
        for pid in pids:
            if pid != current:
                wait_until(lambda: not alive(pid), timeout=10,
                           what=f"old generation {pid} to exit")
        self.assertEqual(zombies_of(b.pid), [])


@unittest.skipUnless(shutil.which("wrk"), "needs wrk")
class ZeroDowntimeTests(UpgradeTestCase):
    def test_bye_protocol_server_under_load_loses_nothing(self):
        b, port, first = self.start_bye(["--ready", "message"])
        done, (requests, errors, non2xx, out) = self.load_with_upgrades(
            b, port, seconds=12, interval=0.5)
        self.assertGreaterEqual(done, 15)
        self.assertGreater(requests, 1000, out)
        self.assertEqual((errors, non2xx), (0, 0), out)
        current = self.served_pid(port)
        self.assertNotEqual(current, first)
        self.assertNotIn("upgrade failed", b._err.decode())
        self.assert_old_generations_gone(b, [first], current)
        b.signal(signal.SIGTERM)
        self.assertEqual(b.wait()[0], 0)

    @unittest.skipUnless(shutil.which("gunicorn"), "needs gunicorn")
    def test_unmodified_gunicorn_upgrades_on_ready_1(self):
        b = self.start(["-l", "127.0.0.1:0", "--ready", "message", "--",
                        "gunicorn", "-w", "2", "--chdir",
                        os.path.join(HERE, "servers"), "wsgi_app:app"])
        port = port_of(b)
        line = b.read_line("gen=1 ready", stream="err", timeout=30)
        self.assertIn("via=notify", line)
        first_master = int(re.search(r"pid=(\d+)", line).group(1))
        done, (requests, errors, non2xx, out) = self.load_with_upgrades(
            b, port, seconds=12, interval=1.0)
        self.assertGreaterEqual(done, 8)
        self.assertGreater(requests, 500, out)
        self.assertEqual((errors, non2xx), (0, 0), out)
        self.assert_old_generations_gone(b, [first_master], None)
        b.signal(signal.SIGTERM)
        self.assertEqual(b.wait(timeout=40)[0], 0)

    def test_program_with_no_protocol_upgrades_with_ready_duration(self):
        b = self.start(["-l", "127.0.0.1:0", "--ready", "1s", "--", PYTHON,
                        os.path.join(HERE, "servers", "plain_http.py")])
        port = port_of(b)
        b.read_line("gen=1 ready", stream="err", timeout=10)
        first = self.served_pid(port)
        done, (requests, errors, non2xx, out) = self.load_with_upgrades(
            b, port, seconds=8, interval=1.5)
        self.assertGreaterEqual(done, 3)
        self.assertEqual((errors, non2xx), (0, 0), out)
        self.assertNotEqual(self.served_pid(port), first)
        b.signal(signal.SIGTERM)
        self.assertEqual(b.wait()[0], 0)


class RollbackTests(UpgradeTestCase):
    def test_new_generation_that_exits_at_start_leaves_old_serving(self):
        b, port, first = self.start_bye(["--ready", "message"])
        self.set_mode("fail")
        outcome, line = self.upgrade(b)
        self.assertEqual(outcome, "failed")
        self.assertIn("exited before it was ready (exit code 1)", line)
        self.assertEqual(self.served_pid(port), first)
        self.assertTrue(alive(first))
        # The next upgrade, once the program is fixed, works.
        self.set_mode("ok")
        outcome, _ = self.upgrade(b)
        self.assertEqual(outcome, "done")
        self.assertNotEqual(self.served_pid(port), first)

    def test_new_generation_that_never_gets_ready_is_stopped(self):
        b, port, first = self.start_bye(["--ready", "message",
                                         "--ready-timeout", "2s"])
        self.set_mode("hang")
        t0 = time.monotonic()
        outcome, line = self.upgrade(b)
        self.assertEqual(outcome, "failed")
        self.assertGreaterEqual(time.monotonic() - t0, 1.9)
        self.assertIn("not ready within 2s", line)
        hung = int(b.read_line("ready pid=").split("=")[1])
        wait_until(lambda: not alive(hung), timeout=10,
                   what="the hung generation to be stopped")
        self.assertEqual(self.served_pid(port), first)
        self.assertEqual(zombies_of(b.pid), [])

    def test_binary_deleted_before_upgrade_leaves_old_serving(self):
        prog = os.path.join(self.tmp, "server")
        shutil.copy(helper("byeserver"), prog)
        b, port, first = self.start_bye(["--ready", "message"], program=prog)
        os.unlink(prog)
        outcome, line = self.upgrade(b)
        self.assertEqual(outcome, "failed")
        self.assertIn(f"cannot run '{prog}': No such file or directory", line)
        self.assertEqual(self.served_pid(port), first)

    def test_binary_replaced_is_picked_up(self):
        prog = os.path.join(self.tmp, "server")
        shutil.copy(helper("byeserver"), prog)
        b, port, first = self.start_bye(["--ready", "message"], program=prog)
        # Replace the file (a new inode), as a package upgrade does.
        new = prog + ".new"
        with open(new, "w") as f:
            f.write(f"#!/bin/sh\necho version-2 >&2\nexec {helper('byeserver')}\n")
        os.chmod(new, 0o755)
        os.rename(new, prog)
        b.signal(signal.SIGUSR1)
        b.read_line("version-2", stream="err")  # the new file ran
        b.read_line("upgrade done", stream="err")
        self.assertNotEqual(self.served_pid(port), first)


if __name__ == "__main__":
    unittest.main()
