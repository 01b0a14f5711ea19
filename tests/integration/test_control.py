"""The control socket and `byed ctl`."""

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import unittest

from byedtest import BYED, ByedTestCase, alive, ctl, helper, wait_until


class ControlTests(ByedTestCase):
    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="byed-control-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.sock = os.path.join(self.tmp, "byed.sock")
        self.mode_file = os.path.join(self.tmp, "mode")
        with open(self.mode_file, "w") as f:
            f.write("ok\n")

    def start_byed(self):
        b = self.start(["--control", self.sock, "-l", "127.0.0.1:0",
                        "--ready", "message", "--", helper("byeserver")],
                       env={"BYESERVER_MODE_FILE": self.mode_file})
        b.read_line("gen=1 ready", stream="err")
        return b

    def raw(self):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(self.sock)
        self.addCleanup(s.close)
        return s, s.makefile("rb")

    def test_socket_is_0600_and_removed_on_exit(self):
        b = self.start_byed()
        st = os.lstat(self.sock)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(st.st_mode & 0o777, 0o600)
        code, out, _ = ctl("--control", self.sock, "stop")
        self.assertEqual((code, out), (0, "stopped\n"))
        self.assertEqual(b.wait()[0], 0)
        self.assertFalse(os.path.exists(self.sock))

    def test_status_text_and_json(self):
        b = self.start_byed()
        code, out, err = ctl("--control", self.sock, "status")
        self.assertEqual(code, 0, err)
        self.assertIn(f"byed pid {b.pid}", out)
        self.assertRegex(out, r"\n1\s+\d+\s+ready\s+")
        self.assertIn("127.0.0.1:", out)
        self.assertIn("last upgrade: none", out)
        code, out, _ = ctl("--control", self.sock, "--json", "status")
        s = json.loads(out)
        self.assertEqual(s["v"], 1)
        self.assertEqual(s["pid"], b.pid)
        self.assertEqual(len(s["generations"]), 1)
        g = s["generations"][0]
        self.assertEqual((g["gen"], g["state"], g["current"]), (1, "ready", True))
        self.assertTrue(g["started_at"].endswith("Z"))
        self.assertTrue(g["ready_at"].endswith("Z"))
        self.assertEqual(s["sockets"][0]["fd"], 3)
        self.assertIsNone(s["last_upgrade"])
        # Numbers are numbers; durations are seconds in `_s` fields.
        number = (int, float)
        self.assertIsInstance(s["uptime_s"], number)
        self.assertNotIsInstance(s["uptime_s"], bool)
        self.assertGreaterEqual(s["uptime_s"], 0)
        self.assertNotIn("uptime", s)
        for value in (s["pid"], g["gen"], g["pid"], s["sockets"][0]["fd"],
                      s["restarts"]["count"]):
            self.assertIs(type(value), int)

    def test_upgrade_success_and_failure_exit_codes(self):
        self.start_byed()
        code, out, err = ctl("--control", self.sock, "upgrade")
        self.assertEqual(code, 0, err)
        self.assertRegex(out, r"^upgraded: gen 2, pid \d+\n$")
        new_pid = int(out.split()[-1])
        self.assertTrue(alive(new_pid))

        with open(self.mode_file, "w") as f:
            f.write("fail\n")
        code, out, err = ctl("--control", self.sock, "upgrade")
        self.assertEqual(code, 1)
        self.assertIn("upgrade failed: exited before it was ready (exit code 1)",
                      err)
        code, out, _ = ctl("--control", self.sock, "--json", "status")
        s = json.loads(out)
        self.assertEqual(s["last_upgrade"]["result"], "failed")
        self.assertEqual(s["last_upgrade"]["gen"], 3)
        self.assertIsInstance(s["last_upgrade"]["duration_s"], (int, float))
        self.assertGreaterEqual(s["last_upgrade"]["duration_s"], 0)
        self.assertNotIn("duration", s["last_upgrade"])
        # ...and the text shows it as a duration people read.
        code, out, _ = ctl("--control", self.sock, "status")
        self.assertRegex(out, r"last upgrade: failed \(gen 3, (0|\d+(ms|s))\): "
                              r"exited before it was ready")
        # Gen 3 is gone; gen 1, drained by the first upgrade, goes once it
        # has stopped (a moment later on a busy machine): gen 2 is left.
        def generations():
            _, out, _ = ctl("--control", self.sock, "--json", "status")
            return [g["pid"] for g in json.loads(out)["generations"]]
        wait_until(lambda: generations() == [new_pid], timeout=30,
                   what=f"only gen 2 ({new_pid}) left in status")

    def test_concurrent_upgrades_from_five_clients_are_one_upgrade(self):
        b = self.start_byed()
        with open(self.mode_file, "w") as f:
            f.write("slow 500\n")  # long enough for all five to join
        results = [None] * 5

        def run(i):
            results[i] = ctl("--control", self.sock, "--json", "upgrade")

        threads = [threading.Thread(target=run, args=(i,)) for i in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        replies = [json.loads(r[1]) for r in results]
        self.assertTrue(all(r[0] == 0 for r in results), results)
        self.assertEqual(len({(r["gen"], r["pid"]) for r in replies}), 1, replies)
        self.assertEqual(replies[0]["gen"], 2)
        code, out, _ = ctl("--control", self.sock, "--json", "status")
        self.assertEqual([g["gen"] for g in json.loads(out)["generations"]], [2])
        self.assertNotIn("gen=3", b.err_all.decode() + b._err.decode())

    def test_stop_waits_until_byed_is_gone(self):
        b = self.start_byed()
        code, out, _ = ctl("--control", self.sock, "stop")
        self.assertEqual((code, out), (0, "stopped\n"))
        # When ctl returns, byed has exited (its socket closed at exit).
        wait_until(lambda: b.proc.poll() is not None, timeout=2,
                   what="byed to be reaped")
        self.assertEqual(b.proc.returncode, 0)

    def test_peer_with_another_uid_is_rejected(self):
        if os.geteuid() != 0 or not shutil.which("setpriv"):
            self.skipTest("needs root and setpriv")
        b = self.start_byed()
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534",
                     "--clear-groups", BYED, "ctl", "--control", self.sock,
                     "status"]
        # The file mode alone keeps others out...
        p = subprocess.run(as_nobody, capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 1)
        self.assertIn("Permission denied", p.stderr)
        # ...and with the mode opened up, SO_PEERCRED still does.
        os.chmod(self.sock, 0o666)
        os.chmod(self.tmp, 0o755)
        p = subprocess.run(as_nobody, capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 1)
        self.assertIn("permission denied: uid 65534 may not control this byed",
                      p.stderr)
        b.read_line("rejected a client with uid 65534", stream="err")

    def test_malformed_and_unknown_requests_keep_the_connection(self):
        self.start_byed()
        s, r = self.raw()
        for bad, needle in [(b"garbage\n", "malformed"),
                            (b'{"v":1,"cmd":"dance"}\n', "unknown command"),
                            (b'{"v":2,"cmd":"status"}\n', "version"),
                            (b'{"v":1}\n', "missing"),
                            (b"[1,2]\n", "malformed")]:
            s.sendall(bad)
            reply = json.loads(r.readline())
            self.assertFalse(reply["ok"])
            self.assertIn(needle, reply["error"])
        s.sendall(b'{"v":1,"cmd":"status"}\n')
        self.assertTrue(json.loads(r.readline())["ok"])

    def test_huge_line_and_silent_client_cannot_block_or_bloat(self):
        b = self.start_byed()

        def rss_kib():
            with open(f"/proc/{b.pid}/status") as f:
                return int(next(l for l in f if l.startswith("VmRSS")).split()[1])

        before = rss_kib()
        silent, _ = self.raw()  # connects, says nothing
        s, r = self.raw()
        chunk = b"x" * 65536
        try:
            for _ in range(160):  # 10 MiB, no newline
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # byed closed it after the limit: fine
        reply = r.readline()
        if reply:
            self.assertIn("longer than 64 KiB", json.loads(reply)["error"])
        # byed still answers others at once, and did not keep the bytes.
        code, out, _ = ctl("--control", self.sock, "--json", "status",
                           timeout=10)
        self.assertEqual(code, 0)
        # 10 MiB went in; byed kept at most one bounded line of it.
        self.assertLess(rss_kib() - before, 4 * 1024)

    def test_clients_that_never_read_cannot_freeze_byed(self):
        # 20 clients send status requests and never read the answers. byed
        # must not wait for any of them: it keeps forwarding signals and
        # answering others. Ten send less than the per-client bound (256 KiB
        # unsent) can hold and lose nothing; ten send far more and are
        # dropped, one log line each.
        b = self.start(["--control", self.sock, "--", helper("sigrecorder")])
        b.child_pid()
        probe, r = self.raw()
        probe.sendall(b'{"v":1,"cmd":"status"}\n')
        reply_size = len(r.readline())
        request = b'{"v":1,"cmd":"status"}\n'
        # More than the kernel's socket buffer holds, within the bound.
        kept_n = 192 * 1024 // reply_size
        dropped_n = 4 * 1024 * 1024 // reply_size  # far past it

        def connect():
            s = socket.socket(socket.AF_UNIX)
            s.connect(self.sock)
            self.addCleanup(s.close)
            return s

        kept = [connect() for _ in range(10)]
        flooding = [connect() for _ in range(10)]
        for s in kept:
            s.sendall(request * kept_n)
        for s in flooding:
            try:
                s.sendall(request * dropped_n)
            except (BrokenPipeError, ConnectionResetError):
                pass  # dropped before it finished sending: fine

        # byed still answers another client, and forwards a signal.
        code, out, err = ctl("--control", self.sock, "status")
        self.assertEqual(code, 0, err)
        self.assertIn(f"byed pid {b.pid}", out)
        b.signal(signal.SIGUSR2)
        self.assertEqual(b.read_line("signal ", timeout=60), "signal USR2")

        # Every flooding client is dropped before anyone reads: a client
        # read while byed still answers it would catch up under the bound.
        for _ in range(10):
            b.read_line("control: dropped a client that does not read its "
                        "replies", stream="err", timeout=240)

        # The clients within the bound get every answer, whole and in order.
        for s in kept:
            s.settimeout(60)
            f = s.makefile("rb")
            for i in range(kept_n):
                try:
                    line = f.readline()
                except ConnectionResetError:
                    line = b""
                self.assertTrue(line, f"a client within the bound was "
                                      f"dropped after {i} of {kept_n} replies")
                self.assertTrue(json.loads(line)["ok"])
        # The others were dropped: what the socket held, then the end.
        for s in flooding:
            s.settimeout(60)
            got = b""
            try:
                while chunk := s.recv(1 << 16):
                    got += chunk
            except ConnectionResetError:
                pass
            self.assertLess(got.count(b"\n"), dropped_n)
        code, _, _ = ctl("--control", self.sock, "status")
        self.assertEqual(code, 0)
        self.assertEqual(b.err_all.count(b"dropped a client"), 10)

    def test_stale_socket_file_is_replaced(self):
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(self.sock)
        stale.close()
        self.start_byed()
        self.assertEqual(ctl("--control", self.sock, "status")[0], 0)

    def test_socket_found_from_env_and_runtime_directory(self):
        self.start_byed()
        code, _, _ = ctl("status", env={"BYED_CONTROL": self.sock})
        self.assertEqual(code, 0)
        code, _, _ = ctl("status", env={"RUNTIME_DIRECTORY": self.tmp})
        self.assertEqual(code, 0)

    def test_no_socket_known_is_a_clear_error(self):
        code, _, err = ctl("status")
        self.assertEqual(code, 2)
        self.assertIn("no control socket", err)
        code, _, err = ctl("--control", os.path.join(self.tmp, "none"), "status")
        self.assertEqual(code, 1)
        self.assertIn("No such file or directory", err)
        code, _, err = ctl("--control", self.sock, "dance")
        self.assertEqual(code, 2)


if __name__ == "__main__":
    unittest.main()
