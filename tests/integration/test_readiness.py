"""Readiness that is true for unmodified programs: with byed's defaults an
upgrade or a restart never drains the old generation for a new one that is
not serving yet — whatever way the program waits on the held socket (poll,
epoll, a blocked accept, gunicorn's workers) — and a release that fails
during its warm-up, or a moment after it looks ready, leaves the old one
serving."""

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import unittest

from byedtest import (ClientLoop, GenerationsTestCase, alive, held_address,
                      helper, http_get, wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
WARM = [PYTHON, os.path.join(HERE, "servers", "warm_http.py")]
NODE = shutil.which("node") or shutil.which("nodejs")


class ReadinessTestCase(GenerationsTestCase):
    def start_server(self, program, extra=(), env=None, first_line="serving"):
        e = {"WARM_MODE_FILE": self.mode_file}
        e.update(env or {})
        b = self.start(["-l", "127.0.0.1:0", *extra, "--", *program], env=e)
        port = int(held_address(b).rsplit(":", 1)[1])
        b.read_line("gen=1 ready", stream="err", timeout=60)
        return b, port

    def served_pid(self, port):
        status, body = http_get("127.0.0.1", port)
        self.assertEqual(status, 200)
        return int(body.strip().split("=")[1])

    def ctl_upgrade(self, control):
        return subprocess.run([os.environ["BYED"], "ctl", "--control", control,
                               "upgrade"], capture_output=True, text=True,
                              timeout=120)

    def check_good_and_bad_upgrade(self, program, env=None, warm="2"):
        """Under a client loop: an upgrade to a good version that warms up
        switches to the new pid with no failed request; one that fails
        during its warm-up leaves the old pid serving and ctl upgrade exits
        1, byed running."""
        control = os.path.join(self.tmp, "ctl.sock")
        self.set_mode("ok 0")
        b, port = self.start_server(program, ["--control", control], env)
        first = self.served_pid(port)
        loop = ClientLoop(port)
        self.addCleanup(loop.stop)
        self.set_mode(f"ok {warm}")
        r = self.ctl_upgrade(control)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # The drained one may still answer a request it took before it saw
        # TERM: ask once it is gone.
        wait_until(lambda: not alive(first), timeout=30, what="old one gone")
        second = self.served_pid(port)
        self.assertNotEqual(second, first)
        self.set_mode(f"fail {warm}")
        r = self.ctl_upgrade(control)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("exit code 3", r.stdout + r.stderr)
        ok, failed = loop.stop()
        self.assertEqual(failed, 0, loop.errors[:5])
        self.assertGreater(ok, 0)
        self.assertEqual(self.served_pid(port), second)
        self.assertIsNone(b.proc.poll())
        b.signal(signal.SIGTERM)
        code, _, err = b.wait(timeout=60)
        self.assertEqual(code, 0, err)
        return err


class UnmodifiedServerTests(ReadinessTestCase):
    def test_http_server_poll(self):
        err = self.check_good_and_bad_upgrade(WARM)
        # In poll between requests; or in accept, when the old generation
        # took the connection poll woke it for (the socket blocks).
        self.assertRegex(err,
                         r'upgrade done.*via="accepting unknown: (poll|accept)')

    def test_asyncio_server_epoll(self):
        err = self.check_good_and_bad_upgrade(WARM, {"WARM_STYLE": "asyncio"})
        self.assertRegex(err, r'upgrade done.*via="accepting unknown: epoll')

    def test_failing_a_moment_after_it_looks_ready_fails_the_upgrade(self):
        # Waits on the socket, then dies within the settle window (auto: 1s).
        control = os.path.join(self.tmp, "ctl.sock")
        prog = ("import os, select, socket, sys, time\n"
                "s = socket.socket(fileno=3)\n"
                "m = open(os.environ['WARM_MODE_FILE']).read().split()[0]\n"
                "print(f'serving pid={os.getpid()}', flush=True)\n"
                "if m == 'ok':\n"
                "    from pidhttp import handler\n"
                "    import http.server\n"
                "    h = http.server.HTTPServer(('', 0), handler(), "
                "bind_and_activate=False)\n"
                "    h.socket = s\n"
                "    h.serve_forever()\n"
                "select.select([s], [], [], 0.3)\n"
                "sys.exit(4)\n")
        self.set_mode("ok")
        b, port = self.start_server(
            [PYTHON, "-c", prog], ["--control", control],
            {"PYTHONPATH": os.path.join(HERE, "servers")})
        first = self.served_pid(port)
        self.set_mode("flaky")
        r = self.ctl_upgrade(control)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("within --ready-settle", r.stdout + r.stderr)
        self.assertEqual(self.served_pid(port), first)

    def test_blocking_accept_in_c(self):
        # tests/helpers/acceptor: fd 4 and 5 are its phase pipes; run it
        # through sh with both on /dev/null-free pipes it never blocks on.
        control = os.path.join(self.tmp, "ctl.sock")
        prog = ["/bin/sh", "-c",
                "exec 4>/dev/null; exec 5<<EOF\ngo\nEOF\n"
                f"exec {helper('acceptor')} accept"]
        b = self.start(["-l", "127.0.0.1:0", "--control", control, "--",
                        *prog])
        b.read_line("gen=1 ready", stream="err", timeout=60)
        r = self.ctl_upgrade(control)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(b.read_line("upgrade done", stream="err"),
                         r"via=\"accepting unknown: accept")


@unittest.skipUnless(shutil.which("gunicorn"), "needs gunicorn")
class GunicornTests(ReadinessTestCase):
    def test_workers_that_fail_to_boot_fail_the_upgrade(self):
        # Without --preload gunicorn's arbiter says READY=1 before its
        # workers import the app: a release with a syntax error must not be
        # taken for ready.
        app_dir = os.path.join(self.tmp, "app")
        os.mkdir(app_dir)
        app = os.path.join(app_dir, "app.py")
        shutil.copy(os.path.join(HERE, "servers", "wsgi_app.py"), app)
        control = os.path.join(self.tmp, "ctl.sock")
        b = self.start(["-l", "127.0.0.1:0", "--control", control, "--",
                        "gunicorn", "-w", "2", "--graceful-timeout", "10",
                        "--chdir", app_dir, "app:app"])
        port = int(held_address(b).rsplit(":", 1)[1])
        line = b.read_line("gen=1 ready", stream="err", timeout=60)
        self.assertIn("accepting unknown:", line)
        first = self.served_pid(port)
        loop = ClientLoop(port)
        self.addCleanup(loop.stop)
        # Both of gen 1's workers have imported the app (each served): only
        # the new release may read the broken file. (Gen 1 counts as ready
        # once one worker waits on the socket.)
        wait_until(lambda: len(loop.pids) >= 2, timeout=60,
                   what="both gen 1 workers to serve")
        with open(app, "a") as f:
            f.write("\ndef broken(:\n")
        r = self.ctl_upgrade(control)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        ok, failed = loop.stop()
        b._pump(0.2)
        self.assertEqual(failed, 0, (loop.errors[:5],
                                     b.err_all.decode()[-3000:]))
        self.assertGreater(ok, 0)
        self.assertIsNotNone(self.served_pid(port))
        self.assertIsNone(b.proc.poll())
        b.signal(signal.SIGTERM)
        self.assertEqual(b.wait(timeout=60)[0], 0)


@unittest.skipUnless(NODE, "needs node (Debian's nodejs)")
class NodeTests(ReadinessTestCase):
    def test_net_server_on_fd_3(self):
        # net.createServer().listen({fd: 3}) after a 2 s warm-up; libuv
        # waits in epoll.
        err = self.check_good_and_bad_upgrade(
            [NODE, os.path.join(HERE, "servers", "warm_net.js")])
        self.assertRegex(err, r'upgrade done.*via="accepting unknown: epoll')


class RestartReadinessTests(ReadinessTestCase):
    def test_first_start_failing_in_warm_up_is_restarted(self):
        self.set_mode("fail 0.5")
        b = self.start(["-l", "127.0.0.1:0", "--restart", "on-failure",
                        "--restart-delay", "100ms", "--", *WARM],
                       env={"WARM_MODE_FILE": self.mode_file})
        port = int(held_address(b).rsplit(":", 1)[1])
        b.read_line("restarting", stream="err", timeout=30)
        self.set_mode("ok 0.5")
        b.read_line("restarted: ready", stream="err", timeout=30)
        self.assertGreater(self.served_pid(port), 0)
        b.signal(signal.SIGTERM)
        self.assertEqual(b.wait(timeout=30)[0], 0)


class ProbeAndStopDelayTests(ReadinessTestCase):
    def test_exec_probe_gates_readiness(self):
        flag = os.path.join(self.tmp, "flag")
        self.set_mode("ok 0")
        b = self.start(["-l", "127.0.0.1:0", "--ready",
                        f"exec:test -e {flag} && test -n \"$BYED_PID\" && "
                        "test -n \"$BYED_ADDRESS\"", "--ready-interval",
                        "50ms", "--", *WARM],
                       env={"WARM_MODE_FILE": self.mode_file})
        b.read_line("serving pid=", timeout=30)
        self.assertNotIn("ready", b._err.decode().replace("already", ""))
        open(flag, "w").close()
        line = b.read_line("gen=1 ready", stream="err", timeout=30)
        self.assertIn("exec test -e", line)
        b.signal(signal.SIGTERM)
        self.assertEqual(b.wait(timeout=30)[0], 0)

    def test_health_probe_failing_makes_it_hung_and_restarts(self):
        flag = os.path.join(self.tmp, "sick")
        self.set_mode("ok 0")
        b = self.start(["-l", "127.0.0.1:0", "--health", f"exec:! test -e {flag}",
                        "--health-interval", "100ms", "--health-failures",
                        "2", "--restart", "always", "--", *WARM],
                       env={"WARM_MODE_FILE": self.mode_file})
        b.read_line("gen=1 ready", stream="err", timeout=30)
        open(flag, "w").close()
        b.read_line("hung: 2 health probes failed", stream="err", timeout=30)
        os.unlink(flag)
        b.read_line("restarted: ready", stream="err", timeout=30)
        b.signal(signal.SIGTERM)
        self.assertEqual(b.wait(timeout=30)[0], 0)

    def test_stop_delay_keeps_serving_then_stops(self):
        self.set_mode("ok 0")
        b, port = self.start_server(WARM, ["--stop-delay", "1s"])
        b.signal(signal.SIGTERM)
        b.read_line("stopping after --stop-delay", stream="err")
        # Still serving during the delay.
        self.assertGreater(self.served_pid(port), 0)
        b.read_line("stop delay over: stopping", stream="err", timeout=30)
        self.assertEqual(b.wait(timeout=30)[0], 0)

    def test_wait_for_starts_the_child_once_the_peer_is_ready(self):
        ready_dir = os.path.join(self.tmp, "ready")  # created by byed
        self.set_mode("ok 0")
        peer = self.start(["-l", "127.0.0.1:0", "--ready-dir", ready_dir,
                           "--name", "db", "--", *WARM],
                          env={"WARM_MODE_FILE": self.mode_file})
        b = self.start(["--ready-dir", ready_dir, "--wait-for", "db",
                        "--name", "app", "--", "/bin/sh", "-c",
                        f"test -e {ready_dir}/db.ready && echo started; "
                        "exec sleep 1000"])
        b.read_line("waiting before starting the program", stream="err")
        peer.read_line("gen=1 ready", stream="err", timeout=30)
        self.assertEqual(b.read_line("started", timeout=30), "started")
        b.read_line("left ready marker", stream="err", timeout=30)
        self.assertTrue(os.path.exists(os.path.join(ready_dir, "app.ready")))
        peer.signal(signal.SIGTERM)
        self.assertEqual(peer.wait(timeout=30)[0], 0)
        self.assertFalse(os.path.exists(os.path.join(ready_dir, "db.ready")))
        b.signal(signal.SIGTERM)
        b.wait(timeout=30)

    def test_wait_for_timeout_exits_1(self):
        ready_dir = os.path.join(self.tmp, "ready")
        from byedtest import run_byed
        code, _, err = run_byed(["--ready-dir", ready_dir, "--wait-for", "db",
                                 "--wait-for-timeout", "300ms", "--", "true"])
        self.assertEqual(code, 1, err)
        self.assertIn("db not ready within --wait-for-timeout", err)

    def test_bad_probe_options_are_usage_errors(self):
        from byedtest import run_byed
        for args in (["--ready", "exec:"], ["--health", "curl x"],
                     ["--ready-interval", "5"], ["--stop-delay", "soon"],
                     ["--ready", "accepting"]):
            with self.subTest(args=args):
                code, _, err = run_byed([*args, "--", "true"])
                self.assertEqual(code, 2, err)
                self.assertEqual(len(err.strip().splitlines()), 1, err)


if __name__ == "__main__":
    unittest.main()
