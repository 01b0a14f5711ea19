"""--log-child: the children's lines through byed, tagged, as JSON or as
journal entries; whole, attributed to their generation, none lost, bounded
memory when nobody reads."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

from byedtest import BYED, ByedTestCase, wait_until

WRITER = [sys.executable, os.path.join(os.path.dirname(__file__), "servers",
                                       "log_writer.py")]
TAG = re.compile(rb"^w\[gen=(\d+) pid=(\d+)(?: part=(\d+)(\+?))?\] (.*)$",
                 re.S)


def filler(seq):
    return b"x" * (1 + (seq * 7919) % 3000)


class LogChildTest(ByedTestCase):
    def run_to_files(self, args, env=None, timeout=120):
        """byed ARGS with stdout and stderr in files: (code, out, err)."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            full = dict(os.environ)
            full.pop("NOTIFY_SOCKET", None)
            full.pop("JOURNAL_STREAM", None)
            full.update(env or {})
            code = subprocess.run([BYED] + args, stdout=out, stderr=err,
                                  stdin=subprocess.DEVNULL, env=full,
                                  timeout=timeout).returncode
            out.seek(0)
            err.seek(0)
            return code, out.read(), err.read()

    def upgrade_during_output(self, mode):
        """Two generations writing to stdout and stderr at once, during an
        upgrade; returns the lines of stdout and stderr as
        (gen, pid, payload) tuples."""
        with tempfile.TemporaryDirectory() as d:
            outp, errp = os.path.join(d, "out"), os.path.join(d, "err")
            with open(outp, "wb") as out, open(errp, "wb") as err:
                env = dict(os.environ)
                env.pop("NOTIFY_SOCKET", None)
                p = subprocess.Popen(
                    [BYED, "--name", "w", "--log-child", mode, "--ready",
                     "message", "--"] + WRITER + ["upgrade"],
                    stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
                try:
                    def said(text):
                        with open(errp, "rb") as f:
                            return text in f.read()
                    wait_until(lambda: said(b"ready"), 30, what="gen 1 ready")
                    p.send_signal(signal.SIGUSR1)
                    wait_until(lambda: said(b"gen=1 exited") or
                               said(b'"gen":1,"level":"info","msg":"exited"'),
                               60, what="gen 1 gone")
                    p.send_signal(signal.SIGTERM)
                    self.assertEqual(p.wait(60), 0)
                finally:
                    p.kill()
                    p.wait()
            with open(outp, "rb") as f:
                out_bytes = f.read()
            with open(errp, "rb") as f:
                err_bytes = f.read()
        return [self.parse(mode, l) for l in out_bytes.split(b"\n")[:-1]], [
            self.parse(mode, l) for l in err_bytes.split(b"\n")[:-1]]

    def parse(self, mode, line):
        if mode == "tag":
            m = TAG.match(line)
            if not m:
                return None  # byed's own record
            return int(m.group(1)), int(m.group(2)), m.group(5)
        j = json.loads(line)
        if "line" not in j:
            self.assertIn("msg", j)  # byed's own record, JSON too
            return None
        self.assertIsInstance(j["gen"], int)
        self.assertIsInstance(j["pid"], int)
        self.assertRegex(j["time"],
                         r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        self.assertEqual(j["name"], "w")
        return j["gen"], j["pid"], j["line"].encode("utf-8",
                                                    "surrogateescape")

    def check_upgrade(self, mode):
        out, err = self.upgrade_during_output(mode)
        gens = {}
        for name, lines in ((b"out", out), (b"err", err)):
            seqs = {}
            order = []
            for entry in lines:
                if entry is None:
                    continue
                gen, pid, payload = entry
                wpid, seq, stream, fill = payload.split(b" ")
                # Intact and attributed: its own pid, stream and filler.
                self.assertEqual(int(wpid), pid)
                self.assertEqual(stream, name)
                self.assertEqual(fill, filler(int(seq)))
                self.assertEqual(gens.setdefault(pid, gen), gen)
                # None lost, none twice, in order.
                self.assertEqual(int(seq), seqs.get(pid, -1) + 1)
                seqs[pid] = int(seq)
                order.append(gen)
            self.assertEqual(sorted(set(order)), [1, 2])
            # Generation 1 wrote 100 lines after TERM, which came only once
            # generation 2 had written 200: their lines are interleaved.
            last1 = len(order) - 1 - order[::-1].index(1)
            self.assertLess(order.index(2), last1)
            # Each stopped generation wrote its 100 lines after TERM, all
            # there before byed exited.
            for pid, last in seqs.items():
                self.assertGreaterEqual(last, 100, pid)

    def test_tag_two_generations_during_an_upgrade(self):
        self.check_upgrade("tag")

    def test_json_two_generations_during_an_upgrade(self):
        self.check_upgrade("json")

    def test_a_1mib_line_arrives_in_marked_parts(self):
        code, out, _ = self.run_to_files(
            ["--name", "w", "--log-child", "tag", "--"] + WRITER +
            ["long", str(1 << 20)])
        self.assertEqual(code, 0)
        lines = [TAG.match(l) for l in out.split(b"\n")[:-1]]
        self.assertTrue(all(lines), out[:200])
        parts = [(int(m.group(3)), m.group(4), m.group(5)) for m in lines[:-1]]
        self.assertEqual([p[0] for p in parts], list(range(1, 17)))
        self.assertEqual([p[1] for p in parts], [b"+"] * 15 + [b""])
        self.assertEqual(b"".join(p[2] for p in parts), b"z" * (1 << 20))
        self.assertTrue(all(len(p[2]) == 65536 for p in parts))
        self.assertEqual(lines[-1].group(3), None)
        self.assertEqual(lines[-1].group(5), b"after")

    def test_100mb_from_a_child_that_exits_all_arrive(self):
        n = 1_000_000  # lines of 100 bytes
        code, out, _ = self.run_to_files(
            ["--name", "w", "--log-child", "tag", "--"] + WRITER +
            ["bulk", str(n)], timeout=280)
        self.assertEqual(code, 0)
        lines = out.split(b"\n")
        self.assertEqual(lines[-1], b"")
        self.assertEqual(len(lines) - 1, n)
        prefix = lines[0][:lines[0].index(b"] ") + 2]
        payload = 0
        for i, line in enumerate(lines[:-1]):
            if not line.startswith(prefix) or line[len(prefix):len(prefix) +
                                                    10] != b"%010d" % i:
                self.fail(f"line {i}: {line[:80]!r}")
            payload += len(line) - len(prefix) + 1
        self.assertEqual(payload, 100 * n)

    def test_a_reader_that_stops_blocks_the_writer_not_byed(self):
        with tempfile.TemporaryDirectory() as d:
            go = os.path.join(d, "go")
            r, w = os.pipe()
            env = dict(os.environ)
            env.pop("NOTIFY_SOCKET", None)
            p = subprocess.Popen(
                [BYED, "--name", "w", "--log-child", "tag", "--"] + WRITER +
                ["flood", go], stdout=w, stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL, env=env)
            os.close(w)
            reader = os.fdopen(r, "rb", buffering=0)
            try:
                got = b""
                while b"start\n" not in got:
                    got += reader.read(65536)

                def rss_kib():
                    with open(f"/proc/{p.pid}/status") as f:
                        for line in f:
                            if line.startswith("VmRSS:"):
                                return int(line.split()[1])
                before = rss_kib()
                open(go, "w").close()
                # The slow reader: nothing read for 2 s while the child
                # writes as fast as it can.
                time.sleep(2)
                after = rss_kib()
                self.assertIsNotNone(p.poll() is None and after)
                self.assertLess(after - before, 8 * 1024,
                                f"VmRSS {before} -> {after} KiB")
                # And the stream goes on whole, in order, from where it was.
                buf = b""
                while buf.count(b"\n") < 20000:
                    buf += reader.read(1 << 20)
                seqs = []
                for line in buf.split(b"\n")[:20000]:
                    m = TAG.match(line)
                    self.assertTrue(m, line[:100])
                    if m.group(5) != b"start":
                        seqs.append(int(m.group(5)[:10]))
                        self.assertEqual(m.group(5)[10:], b"y" * 89)
                self.assertEqual(seqs, list(range(seqs[0],
                                                  seqs[0] + len(seqs))))
                self.assertEqual(seqs[0], 0)
            finally:
                p.kill()
                p.wait()
                reader.close()

    def test_json_escapes_bytes_that_are_not_utf8(self):
        code, out, _ = self.run_to_files(
            ["--name", "w", "--log-child", "json", "--"] + WRITER + ["bytes"])
        self.assertEqual(code, 0)
        (line,) = out.split(b"\n")[:-1]
        self.assertIn(rb"caf\udce9 \udcff\udcfe ok ", line)
        j = json.loads(line)
        self.assertEqual(j["stream"], "stdout")
        self.assertEqual(j["line"].encode("utf-8", "surrogateescape"),
                         b"caf\xe9 \xff\xfe ok \xc3\xa9")

    def test_raw_is_the_default_and_untouched(self):
        code, out, _ = self.run_to_files(["--"] + WRITER + ["bytes"])
        self.assertEqual(code, 0)
        self.assertEqual(out, b"caf\xe9 \xff\xfe ok \xc3\xa9\n")

    def test_child_that_closes_its_stdout(self):
        code, out, err = self.run_to_files(
            ["--name", "w", "--log-child", "tag", "--", "sh", "-c",
             "exec >&-; echo still here >&2; exit 3"])
        self.assertEqual(code, 3)
        self.assertEqual(out, b"")
        self.assertRegex(err, rb"w\[gen=1 pid=\d+\] still here\n")

    def test_no_reader_at_all_does_not_kill_byed(self):
        r, w = os.pipe()
        os.close(r)  # byed's stdout: a pipe with no reader (EPIPE)
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        p = subprocess.run(
            [BYED, "--log-child", "tag", "--"] + WRITER + ["bulk", "10000"],
            stdout=w, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            env=env, timeout=60)
        os.close(w)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"cannot write the children's lines to stdout", p.stderr)


class JournalTest(ByedTestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "journal.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(30)

    def tearDown(self):
        self.sock.close()
        self.dir.cleanup()
        super().tearDown()

    @staticmethod
    def fields(datagram):
        """The native protocol: KEY=VALUE\\n or KEY\\n<le64 size>VALUE\\n."""
        out = {}
        while datagram:
            nl = datagram.index(b"\n")
            head = datagram[:nl]
            if b"=" in head:
                k, v = head.split(b"=", 1)
                datagram = datagram[nl + 1:]
            else:
                size = int.from_bytes(datagram[nl + 1:nl + 9], "little")
                k, v = head, datagram[nl + 9:nl + 9 + size]
                assert datagram[nl + 9 + size:nl + 10 + size] == b"\n"
                datagram = datagram[nl + 10 + size:]
            out[k.decode()] = v
        return out

    def run_byed(self, args, env, stdout=subprocess.PIPE):
        full = dict(os.environ)
        full.pop("NOTIFY_SOCKET", None)
        full.pop("JOURNAL_STREAM", None)
        full.update(env)
        return subprocess.run(
            [BYED, "--name", "app"] + args + [
                "--", "sh", "-c",
                "echo hello; printf 'bad \\377\\n' >&2; echo \"$JOURNAL_STREAM\""],
            stdout=stdout, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            env=full, timeout=60)

    def entries(self, n):
        return [self.fields(self.sock.recv(1 << 20)) for _ in range(n)]

    def test_journal_entries_with_generation_and_pid(self):
        p = self.run_byed(["--log-child", "journal"],
                          {"BYED_JOURNAL_SOCKET": self.path})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, b"")
        got = sorted(self.entries(3), key=lambda e: e["MESSAGE"])
        by_msg = {e["MESSAGE"]: e for e in got}
        self.assertEqual(set(by_msg), {b"hello", b"bad \xff", b""})
        hello, bad = by_msg[b"hello"], by_msg[b"bad \xff"]
        self.assertEqual(hello["PRIORITY"], b"6")
        self.assertEqual(bad["PRIORITY"], b"3")
        for e in got:
            self.assertEqual(e["SYSLOG_IDENTIFIER"], b"app")
            self.assertEqual(e["BYED_GENERATION"], b"1")
            self.assertTrue(e["BYED_PID"].isdigit())
            self.assertEqual(e["BYED_PID"], hello["BYED_PID"])
        # byed's own records stay on its stderr (journald reads that too).
        self.assertIn(b"started pid=" + hello["BYED_PID"], p.stderr)

    def test_auto_picks_the_journal_when_journal_stream_is_stdout(self):
        with tempfile.TemporaryFile() as out:
            st = os.fstat(out.fileno())
            p = self.run_byed(["--log-child", "auto"],
                              {"BYED_JOURNAL_SOCKET": self.path,
                               "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"},
                              stdout=out)
            self.assertEqual(p.returncode, 0, p.stderr)
            out.seek(0)
            self.assertEqual(out.read(), b"")
        # JOURNAL_STREAM is not passed on: the child's stdout is a pipe now.
        msgs = {e["MESSAGE"] for e in self.entries(3)}
        self.assertEqual(msgs, {b"hello", b"bad \xff", b""})

    def test_auto_without_the_journal_is_raw(self):
        p = self.run_byed(["--log-child", "auto"],
                          {"BYED_JOURNAL_SOCKET": self.path,
                           "JOURNAL_STREAM": "1:2"})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, b"hello\n1:2\n")
        self.assertIn(b"bad \xff\n", p.stderr)

    def test_missing_socket_falls_back_to_tagged_lines_with_one_warning(self):
        p = self.run_byed(["--log-child", "journal"],
                          {"BYED_JOURNAL_SOCKET": self.path + ".missing"})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, rb"^app\[gen=1 pid=\d+\] hello\n")
        self.assertRegex(p.stderr, rb"app\[gen=1 pid=\d+\] bad \xff\n")
        self.assertEqual(p.stderr.count(b"journal socket"), 1, p.stderr)
