"""Held sockets: systemd adoption, --listen, the child's LISTEN_* view."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest

from byedtest import (BYED, ByedTestCase, free_port, held_address, helper,
                      http_get, http_get_retry, run_byed)

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
LISTEN_ENV = {"FDLIST_ENV": "LISTEN_FDS,LISTEN_PID,LISTEN_FDNAMES,UPGRADE_FD"}


def parse_fdlist(out):
    lines = out.splitlines()
    info = {"socks": {}, "env": {}}
    for l in lines:
        if l.startswith("fds "):
            info["fds"] = [int(x) for x in l.split()[1:]]
        elif l.startswith("sock "):
            _, fd, addr = l.split(" ", 2)
            info["socks"][int(fd)] = addr
        elif l.startswith("env "):
            k, v = l[4:].split("=", 1)
            info["env"][k] = v
        elif l.startswith("pgid "):
            info["pid"] = int(l.split()[3])
    return info


def split_host_port(addr):
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


class SocketActivationTests(ByedTestCase):
    def activate(self, port, server_cmd, extra=()):
        """systemd-socket-activate -l 127.0.0.1:PORT byed -- SERVER"""
        cmd = ["systemd-socket-activate", "-l", f"127.0.0.1:{port}",
               "--fdname=web", BYED] + list(extra) + ["--"] + server_cmd
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: (p.poll() is None and p.kill(), p.communicate()))
        return p

    def test_sd_listen_fds_server_under_socket_activation(self):
        port = free_port()
        p = self.activate(port, [helper("sdserver")])
        # systemd-socket-activate listens before it execs byed: the request
        # waits in the backlog until sdserver accepts.
        status, body = http_get_retry("127.0.0.1", port)
        self.assertEqual(status, 200)
        self.assertIn("fds=1 names=web", body)
        server_pid = int(body.split()[0].split("=")[1])
        self.assertNotEqual(server_pid, p.pid, "byed, not the server, got LISTEN_PID")
        os.kill(p.pid, signal.SIGTERM)  # p is byed (exec'ed by the activator)
        self.assertEqual(p.wait(timeout=10), 0)

    def test_python_systemd_listen_fds_server(self):
        port = free_port()
        p = self.activate(port, [PYTHON, os.path.join(HERE, "servers",
                                                      "py_listen_fds.py")])
        status, body = http_get_retry("127.0.0.1", port)
        self.assertEqual(status, 200)
        self.assertIn("fds=1", body)
        os.kill(p.pid, signal.SIGTERM)
        self.assertEqual(p.wait(timeout=10), 0)

    def test_listen_for_the_same_port_reuses_the_systemd_socket(self):
        port = free_port()
        p = self.activate(port, [helper("sdserver")],
                          extra=["--listen", f"127.0.0.1:{port}"])
        status, body = http_get_retry("127.0.0.1", port)
        self.assertEqual(status, 200)
        self.assertIn("fds=1 names=web", body)  # not bound twice
        os.kill(p.pid, signal.SIGTERM)
        self.assertEqual(p.wait(timeout=10), 0)

    def test_listen_pid_of_another_process_is_ignored(self):
        env = {"LISTEN_FDS": "1", "LISTEN_PID": "1", **LISTEN_ENV}
        code, out, err = run_byed(["-q", "--", helper("fdlist")], env=env)
        self.assertEqual(code, 0, err)
        info = parse_fdlist(out)
        self.assertEqual(info["fds"], [0, 1, 2, 3])  # 3: UPGRADE_FD
        self.assertEqual(info["env"]["UPGRADE_FD"], "3")
        self.assertEqual(info["env"]["LISTEN_FDS"], "<unset>")

    def test_listen_fds_that_are_not_sockets_exit_2(self):
        # A shell runs byed with fd 3 on a regular file and LISTEN_PID=$$,
        # which exec keeps: byed's own pid.
        with tempfile.NamedTemporaryFile() as f:
            p = subprocess.run(
                ["/bin/sh", "-c",
                 f'LISTEN_FDS=1 LISTEN_PID=$$ exec "{BYED}" -- true 3<"{f.name}"'],
                capture_output=True, timeout=10)
        self.assertEqual(p.returncode, 2)
        err = p.stderr.decode()
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("fd 3 is not a socket", err)
        p = subprocess.run(
            ["/bin/sh", "-c", f'LISTEN_FDS=2 LISTEN_PID=$$ exec "{BYED}" -- true'],
            capture_output=True, timeout=10)
        self.assertEqual(p.returncode, 2)
        self.assertIn("fd 3 is not open", p.stderr.decode())


class ListenTests(ByedTestCase):
    def test_several_sockets_with_names_order_and_listen_pid(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.sock")
            port = free_port()
            code, out, err = run_byed(
                ["-l", f"web=127.0.0.1:{port}", "-l", "[::1]:0",
                 "-l", f"admin=unix:{path}", "--", helper("fdlist")],
                env=LISTEN_ENV)
            self.assertEqual(code, 0, err)
            self.assertFalse(os.path.exists(path), "unix socket file removed on exit")
        info = parse_fdlist(out)
        self.assertEqual(info["fds"], [0, 1, 2, 3, 4, 5, 6])
        self.assertEqual(info["env"]["UPGRADE_FD"], "6")  # after the sockets
        self.assertEqual(info["socks"][3], f"127.0.0.1:{port}")
        self.assertTrue(info["socks"][4].startswith("[::1]:"))
        self.assertEqual(info["socks"][5], f"unix:{path}")
        self.assertEqual(info["env"]["LISTEN_FDS"], "3")
        self.assertEqual(info["env"]["LISTEN_FDNAMES"], "web:unknown:admin")
        self.assertEqual(info["env"]["LISTEN_PID"], str(info["pid"]))

    def test_port_alone_is_dual_stack(self):
        b = self.start(["-l", "0", "--", helper("sdserver")])
        host, port = split_host_port(held_address(b))
        self.assertEqual(host, "::")
        for addr in ("127.0.0.1", "::1"):
            status, body = http_get(addr, port)
            self.assertEqual(status, 200, addr)
        b.signal(signal.SIGTERM)
        self.assertEqual(b.wait()[0], 0)

    def test_ephemeral_port_is_reported(self):
        b = self.start(["-l", "127.0.0.1:0", "--", helper("sdserver")])
        host, port = split_host_port(held_address(b))
        self.assertEqual(host, "127.0.0.1")
        self.assertNotEqual(port, 0)
        self.assertEqual(http_get(host, port)[0], 200)
        b.signal(signal.SIGTERM)
        self.assertEqual(b.wait()[0], 0)

    def test_env_byed_listen_comma_separated(self):
        code, out, err = run_byed(["--", helper("fdlist")],
                                  env={"BYED_LISTEN": "a=127.0.0.1:0,b=127.0.0.1:0",
                                       **LISTEN_ENV})
        self.assertEqual(code, 0, err)
        self.assertEqual(parse_fdlist(out)["env"]["LISTEN_FDNAMES"], "a:b")

    def test_bad_addresses_exit_2_with_one_line(self):
        for bad in ("", "x=", "70000", "host:", "foo.example:80", "[::1]80",
                    "[nope]:80", "unix:relative", "bad:name=1", "a:b:c",
                    "127.0.0.1:-1"):
            with self.subTest(bad=bad):
                code, out, err = run_byed(["--listen", bad, "--", "true"])
                self.assertEqual(code, 2, err)
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertIn("--listen", err)

    def test_bind_failure_exits_1_with_context(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        try:
            code, _, err = run_byed(["-l", f"127.0.0.1:{port}", "--", "true"])
        finally:
            s.close()
        self.assertEqual(code, 1)
        self.assertEqual(err.strip(),
                         f"byed: listen 127.0.0.1:{port}: Address already in use")

    def test_stale_unix_socket_replaced_live_one_refused(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.sock")
            stale = socket.socket(socket.AF_UNIX)
            stale.bind(path)
            stale.close()  # file left behind, nobody listening
            code, out, err = run_byed(["-l", f"unix:{path}", "--",
                                       helper("fdlist")])
            self.assertEqual(code, 0, err)
            self.assertIn(f"unix:{path}", out)

            live = socket.socket(socket.AF_UNIX)
            live.bind(path)
            live.listen()
            try:
                code, _, err = run_byed(["-l", f"unix:{path}", "--", "true"])
                self.assertEqual(code, 1)
                self.assertIn("a process listens on it", err)
                self.assertTrue(os.path.exists(path), "live socket untouched")
            finally:
                live.close()

            regular = os.path.join(d, "file")
            open(regular, "w").close()
            code, _, err = run_byed(["-l", f"unix:{regular}", "--", "true"])
            self.assertEqual(code, 1)
            self.assertIn("not a socket", err)

    def test_byed_keeps_socket_when_child_closes_its_copy(self):
        # The child closes its fd 3 and signals that it did; a connection made
        # then still succeeds, because byed holds the socket.
        b = self.start(["-l", "127.0.0.1:0", "--", "/bin/sh", "-c",
                        "exec 3<&-; echo closed; exec sleep 60"])
        host, port = split_host_port(held_address(b))
        b.read_line("closed")
        c = socket.create_connection((host, port), timeout=5)
        c.close()
        self.assertIsNone(b.proc.poll())
        b.signal(signal.SIGTERM)
        self.assertEqual(b.wait()[0], 128 + signal.SIGTERM)


@unittest.skipUnless(shutil.which("gunicorn"), "gunicorn not installed")
class GunicornTests(ByedTestCase):
    def test_unmodified_gunicorn_serves_on_byed_socket(self):
        port = free_port()
        # A worker still booting swallows gunicorn's TERM (the master's
        # handler, inherited) and is KILLed after --graceful-timeout: keep
        # that below byed's --stop-timeout and the wait below.
        b = self.start(["-l", f"127.0.0.1:{port}", "--", "gunicorn", "-w", "2",
                        "--graceful-timeout", "10",
                        "--chdir", os.path.join(HERE, "servers"), "wsgi_app:app"])
        status, body = http_get_retry("127.0.0.1", port, timeout=20)
        self.assertEqual(status, 200)
        self.assertTrue(body.startswith("pid="))
        # gunicorn logs that it adopted the socket rather than binding it.
        b.read_line("Listening at", stream="err", timeout=10)
        b.signal(signal.SIGTERM)
        code, _, err = b.wait(timeout=60)
        self.assertEqual(code, 0, err)


if __name__ == "__main__":
    unittest.main()
