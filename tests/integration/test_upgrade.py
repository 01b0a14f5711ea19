"""Zero-downtime upgrades: new generation, readiness, drain, rollback,
coalescing, PIDFILE, under real load."""

import os
import re
import shutil
import signal
import subprocess
import time
import unittest

from byedtest import BYED as BYED_PATH
from byedtest import (GenerationsTestCase, alive, held_address, helper, http_get,
                      http_get_retry, wait_until, zombies_of)

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"


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


class UpgradeTestCase(GenerationsTestCase):
    def start_bye(self, extra=(), program=None):
        b = self.start(["-l", "127.0.0.1:0", *extra, "--",
                        program or helper("byeserver")],
                       env={"BYESERVER_MODE_FILE": self.mode_file})
        port = port_of(b)
        pid = int(b.read_line("ready pid=").split("=")[1])
        b.read_line("gen=1 ready", stream="err")
        return b, port, pid

    def served_pid(self, port):
        status, body = http_get("127.0.0.1", port)
        self.assertEqual(status, 200)
        return int(body.strip().split("=")[1])

    def load_with_upgrades(self, b, port, upgrades, pace=0.3):
        """wrk at full speed while byed is upgraded `upgrades` times, one at a
        time, each waited for (its outcome line); then wrk is stopped
        (SIGINT: it prints its figures). Returns (upgrades done, figures).
        Counts events, not throughput per second of wall clock."""
        w = wrk(port, 3600)
        self.addCleanup(lambda: w.poll() is None and w.kill())
        time.sleep(0.5)  # pacing: let wrk ramp up before the first upgrade
        done = 0
        for _ in range(upgrades):
            outcome, line = self.upgrade(b, timeout=120)
            self.assertEqual(outcome, "done", line)
            done += 1
            time.sleep(pace)  # pacing, not sync: load on each generation
        w.send_signal(signal.SIGINT)
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
            b, port, upgrades=15)
        self.assertEqual(done, 15)
        self.assertGreater(requests, 100, out)
        self.assertEqual((errors, non2xx), (0, 0), out)
        current = self.served_pid(port)
        self.assertNotEqual(current, first)
        self.assertNotIn("upgrade failed", b._err.decode())
        self.assert_old_generations_gone(b, [first], current)
        b.signal(signal.SIGTERM)
        self.assertEqual(b.wait()[0], 0)

    @unittest.skipUnless(shutil.which("gunicorn"), "needs gunicorn")
    def test_unmodified_gunicorn_upgrades_on_ready_1(self):
        # gunicorn's own graceful timeout stays below byed's --stop-timeout
        # (30 s), or a slow worker would be KILLed at a stop.
        b = self.start(["-l", "127.0.0.1:0", "--ready", "message", "--",
                        "gunicorn", "-w", "2", "--graceful-timeout", "10",
                        "--chdir", os.path.join(HERE, "servers"),
                        "wsgi_app:app"])
        port = port_of(b)
        line = b.read_line("gen=1 ready", stream="err", timeout=30)
        self.assertIn("via=notify", line)
        first_master = int(re.search(r"pid=(\d+)", line).group(1))
        done, (requests, errors, non2xx, out) = self.load_with_upgrades(
            b, port, upgrades=8, pace=0.5)
        self.assertEqual(done, 8)
        self.assertGreater(requests, 100, out)
        self.assertEqual((errors, non2xx), (0, 0), out)
        self.assert_old_generations_gone(b, [first_master], None)
        b.signal(signal.SIGTERM)
        self.assertEqual(b.wait(timeout=60)[0], 0)

    def test_program_with_no_protocol_upgrades_with_ready_duration(self):
        b = self.start(["-l", "127.0.0.1:0", "--ready", "1s", "--", PYTHON,
                        os.path.join(HERE, "servers", "plain_http.py")])
        port = port_of(b)
        b.read_line("gen=1 ready", stream="err", timeout=10)
        first = self.served_pid(port)
        done, (requests, errors, non2xx, out) = self.load_with_upgrades(
            b, port, upgrades=3)
        self.assertEqual(done, 3)
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
        # Both generations accept until the old one has drained.
        wait_until(lambda: not alive(first), what="old generation to drain")
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
        wait_until(lambda: not alive(first), what="old generation to drain")
        self.assertNotEqual(self.served_pid(port), first)


if __name__ == "__main__":
    unittest.main()


class SystemdAndPidfileTests(UpgradeTestCase):
    def recorder(self):
        import socket
        path = os.path.join(self.tmp, "notify.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        self.addCleanup(s.close)
        return s, path

    @staticmethod
    def messages(sock, until, timeout=10.0):
        """Datagrams until one contains `until`."""
        sock.settimeout(timeout)
        got = []
        while True:
            m = sock.recv(4096).decode()
            got.append(m)
            if until in m:
                return got

    def test_notify_order_across_upgrade_and_stop(self):
        sock, path = self.recorder()
        b = self.start(["-l", "127.0.0.1:0", "--ready", "message", "--",
                        helper("byeserver")],
                       env={"NOTIFY_SOCKET": path,
                            "BYESERVER_MODE_FILE": self.mode_file})
        first = self.messages(sock, "READY=1")
        self.assertEqual(len(first), 1)
        kv = dict(l.split("=", 1) for l in first[0].splitlines())
        self.assertEqual(kv["MAINPID"], str(b.pid))
        self.assertIn("gen 1 ready", kv["STATUS"])

        b.signal(signal.SIGUSR1)
        up = self.messages(sock, "READY=1")
        self.assertTrue(up[0].startswith("RELOADING=1"), up)
        self.assertRegex(up[0], r"MONOTONIC_USEC=\d+")
        self.assertIn("STATUS=gen 2 ready", up[-1])

        self.set_mode("fail")
        b.signal(signal.SIGUSR1)
        failed = self.messages(sock, "READY=1")
        self.assertTrue(failed[0].startswith("RELOADING=1"))
        self.assertIn("STATUS=upgrade failed: exited before it was ready",
                      failed[-1])

        b.signal(signal.SIGTERM)
        self.assertEqual(self.messages(sock, "STOPPING=1")[-1], "STOPPING=1")
        self.assertEqual(b.wait()[0], 0)

    @unittest.skipUnless(shutil.which("systemd-socket-activate"),
                         "needs systemd-socket-activate")
    def test_driven_as_systemd_would_socket_activation_and_reload(self):
        # What a Type=notify unit with a .socket does: sockets in LISTEN_*,
        # NOTIFY_SOCKET set, reload = kill -USR1 $MAINPID, stop = TERM.
        import socket as so
        sock, path = self.recorder()
        s = so.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        env = dict(os.environ, NOTIFY_SOCKET=path,
                   BYESERVER_MODE_FILE=self.mode_file)
        p = subprocess.Popen(
            ["systemd-socket-activate", "-l", f"127.0.0.1:{port}",
             "--fdname=web", "-E", f"NOTIFY_SOCKET={path}", "-E",
             f"BYESERVER_MODE_FILE={self.mode_file}", BYED_PATH, "--ready",
             "message", "--", helper("byeserver")],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(lambda: (p.poll() is None and p.kill(), p.communicate()))
        # The activator starts byed on the first connection, as systemd does
        # for a socket unit; the request waits in the backlog meanwhile.
        status, body = http_get_retry("127.0.0.1", port)  # until it listens
        self.assertEqual(status, 200)
        first = int(body.strip().split("=")[1])
        ready = self.messages(sock, "READY=1")[-1]
        mainpid = int(dict(l.split("=", 1) for l in ready.splitlines())["MAINPID"])
        self.assertEqual(mainpid, p.pid)  # byed itself, exec'd by the activator
        os.kill(mainpid, signal.SIGUSR1)  # ExecReload
        states = [m.splitlines()[0] for m in self.messages(sock, "READY=1")]
        self.assertEqual(states, ["RELOADING=1", "READY=1"])
        wait_until(lambda: not alive(first), what="old generation to drain")
        self.assertNotEqual(self.served_pid(port), first)
        os.kill(mainpid, signal.SIGTERM)  # systemctl stop
        self.assertEqual(self.messages(sock, "STOPPING=1")[-1], "STOPPING=1")
        self.assertEqual(p.wait(timeout=20), 0)

    def test_child_sees_its_own_notify_socket_not_byeds(self):
        sock, path = self.recorder()
        b = self.start(["--ready", "message", "--", helper("fdlist")],
                       env={"NOTIFY_SOCKET": path, "FDLIST_ENV": "NOTIFY_SOCKET"})
        code, out, _ = b.wait()
        line = next(l for l in out.splitlines() if l.startswith("env NOTIFY"))
        self.assertRegex(line, rf"^env NOTIFY_SOCKET=@byed/{b.pid}/1/[0-9a-f]{{16}}$")

    def test_ready_from_outside_the_generation_does_not_count(self):
        import socket
        b = self.start(["--ready", "message", "--ready-timeout", "2s", "--",
                        "/bin/sh", "-c",
                        'echo "sock=$NOTIFY_SOCKET"; exec sleep 30'])
        addr = b.read_line("sock=").split("=", 1)[1]
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.sendto(b"READY=1", "\0" + addr[1:])  # we are not in its group
        s.close()
        code, _, err = b.wait(timeout=10)
        self.assertEqual(code, 1, err)
        self.assertIn("not ready: not ready within 2s", err)
        # And a process of the generation does count:
        b = self.start(["--ready", "message", "--", "/bin/sh", "-c",
                        f"{PYTHON} -c \"import socket,os; s=socket.socket("
                        "socket.AF_UNIX, socket.SOCK_DGRAM); a=os.environ["
                        "'NOTIFY_SOCKET']; s.sendto(b'READY=1', '\\0'+a[1:])\""
                        "; exec sleep 30"])
        line = b.read_line("gen=1 ready", stream="err")
        self.assertIn("via=notify", line)

    def test_pidfile_written_at_ready_removed_at_exit(self):
        pidfile = os.path.join(self.tmp, "run", "byed.pid")
        os.mkdir(os.path.dirname(pidfile))
        gate = os.path.join(self.tmp, "gate")
        os.mkfifo(gate)
        # The child says it is ready only when the test opens the gate.
        b = self.start(["--pidfile", pidfile, "--ready", "message", "--",
                        "/bin/sh", "-c",
                        f'echo waiting; read x < {gate}; '
                        'eval "printf 1 >&$UPGRADE_FD"; exec sleep 30'])
        b.read_line("waiting")
        self.assertFalse(os.path.exists(pidfile), "not before ready")
        with open(gate, "w") as g:
            g.write("go\n")
        wait_until(lambda: os.path.exists(pidfile), what="pidfile")
        with open(pidfile) as f:
            self.assertEqual(f.read(), f"{b.pid}\n")
        self.assertEqual(os.stat(pidfile).st_mode & 0o777, 0o644)
        # USR1 through the pidfile, as an operator would.
        with open(pidfile) as f:
            os.kill(int(f.read()), signal.SIGUSR1)
        b.read_line("gen=2 started", stream="err")
        b.signal(signal.SIGTERM)
        b.wait()
        self.assertFalse(os.path.exists(pidfile))

    def test_pidfile_from_environment(self):
        pidfile = os.path.join(self.tmp, "env.pid")
        b = self.start(["--ready", "1s", "--", "sleep", "30"],
                       env={"PIDFILE": pidfile})
        b.read_line("gen=1 ready", stream="err")
        wait_until(lambda: os.path.exists(pidfile), what="pidfile")
        b.signal(signal.SIGTERM)
        b.wait()
        self.assertFalse(os.path.exists(pidfile))


class StormAndStopTests(UpgradeTestCase):
    def test_usr1_storm_starts_at_most_two_generations(self):
        b, port, first = self.start_bye(["--ready", "message"])
        self.set_mode("slow 300")  # each new generation takes 300 ms
        for _ in range(1000):
            os.kill(b.pid, signal.SIGUSR1)
        # One upgrade in flight plus at most one coalesced. (The kernel may
        # also fold the whole burst into one pending signal before byed
        # reads it: then there is no second.)
        b.read_line("gen=2 upgrade done", stream="err", timeout=20)
        seen = b.err_all.decode()
        if "upgrade queued" in seen or "gen=3" in seen:
            b.read_line("gen=3 upgrade done", stream="err", timeout=20)
        self.assertEqual(http_get("127.0.0.1", port)[0], 200)
        b.signal(signal.SIGTERM)
        code, _, err = b.wait(timeout=20)
        self.assertNotIn("gen=4", err)
        self.assertEqual(code, 0)

    def test_term_during_upgrade_stops_every_generation(self):
        b, port, first = self.start_bye(["--ready", "message"])
        self.set_mode("hang")
        b.signal(signal.SIGUSR1)
        hung = int(b.read_line("ready pid=").split("=")[1])
        b.signal(signal.SIGTERM)
        code, _, err = b.wait(timeout=20)
        self.assertEqual(code, 0, err)
        self.assertFalse(alive(first) or alive(hung))

    def test_old_generation_ignoring_drain_is_killed_after_stop_timeout(self):
        b = self.start(["--ready", "1s", "--stop-timeout", "1s", "--",
                        helper("sigrecorder"), "--ignore-stop"])
        old = b.child_pid()
        b.read_line("gen=1 ready", stream="err")
        b.signal(signal.SIGUSR1)
        b.read_line("gen=2 upgrade done", stream="err", timeout=10)
        self.assertEqual(b.read_line("signal "), "signal TERM")  # the drain
        b.read_line("gen=1 still running after stop-timeout, sending KILL",
                    stream="err", timeout=5)
        wait_until(lambda: not alive(old), timeout=5, what="old gen killed")
        self.assertIsNone(b.proc.poll())
        b.proc.kill()
