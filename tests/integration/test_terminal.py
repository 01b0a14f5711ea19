"""byed in an interactive terminal, driven through a real pty: it behaves
as one job (Ctrl-Z, fg, background reads), only the serving generation owns
the terminal, and the terminal is the shell's again once byed has exited."""

import os
import pty
import re
import select
import signal
import tempfile
import time
import unittest

from byedtest import BYED, ByedTestCase, wait_until

PROMPT = "PROMPT$ "


class Pty:
    """A program on the slave side of a new pty; we hold the master."""

    def __init__(self, argv, env=None):
        pid, fd = pty.fork()
        if pid == 0:
            try:
                os.execve(argv[0], argv, env or dict(os.environ))
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.buf = ""

    def send(self, text):
        os.write(self.fd, text.encode())

    def expect(self, pattern, timeout=30):
        """Reads until `pattern` (a regex) matches; consumes up to its end."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"no {pattern!r} on the terminal within {timeout}s; "
                    f"saw {self.buf[-2000:]!r}")
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:  # EIO: the slave side is gone
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"terminal closed; saw {self.buf!r}")
                self.buf += chunk.decode(errors="replace")

    def foreground(self):
        """The terminal's foreground process group (asked on the master)."""
        return os.tcgetpgrp(self.fd)

    def wait_reading(self, comm, timeout=30):
        """Waits until `comm` leads the foreground group and sleeps (in its
        read): typed text then goes to it, not to whoever read before."""
        def reading():
            pgid = self.foreground()
            try:
                with open(f"/proc/{pgid}/stat") as f:
                    stat = f.read()
            except OSError:
                return False
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            state = stat.rsplit(")", 1)[1].split()[0]
            return name == comm and state == "S"
        wait_until(reading, timeout=timeout, what=f"{comm} to read the terminal")

    def close(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        os.close(self.fd)


class TerminalTestCase(ByedTestCase):
    def shell(self):
        env = dict(os.environ, PS1=PROMPT, TERM="dumb", BYED=BYED)
        env.pop("NOTIFY_SOCKET", None)
        sh = Pty(["/bin/bash", "--norc", "--noprofile", "-i"], env)
        self.addCleanup(sh.close)
        sh.expect(re.escape(PROMPT))
        sh.send("set -b; stty -echoctl\n")  # report job changes at once
        sh.expect(re.escape(PROMPT))
        return sh


class JobControlTests(TerminalTestCase):
    def test_ctrl_z_gives_the_prompt_back_and_fg_continues(self):
        sh = self.shell()
        sh.send('"$BYED" -q -- cat\n')
        sh.wait_reading("cat")
        sh.send("one\n")
        sh.expect(r"one\r\n(.*\r\n)?one\r\n")  # the echo, then cat's copy
        sh.send("\x1a")  # Ctrl-Z
        sh.expect(r"Stopped")
        sh.expect(re.escape(PROMPT))  # the shell has its terminal back
        sh.send("fg\n")
        sh.expect(r"cat")
        sh.wait_reading("cat")
        sh.send("two\n")
        sh.expect(r"two\r\n(.*\r\n)?two\r\n")  # cat runs again
        sh.send("\x04")  # Ctrl-D: cat ends, byed ends
        sh.expect(re.escape(PROMPT))
        sh.send("echo rc=$?\n")
        sh.expect(r"rc=0")
        # The terminal is the shell's: a read in the shell works.
        sh.send("read x; echo got=$x\n")
        sh.wait_reading("bash")
        sh.send("typed\n")
        sh.expect(r"got=typed")

    def test_with_a_terminal_the_child_stays_in_the_shells_session(self):
        # Job control needs one session: the child gets a group of its own,
        # not a session (which it gets without a terminal).
        sh = self.shell()
        sh.send('"$BYED" -q -- /usr/bin/python3 -c "import os; '
                'print(\'sid\', os.getsid(0) == os.getsid(os.getppid()), '
                'os.getpgid(0) == os.getpid())"\n')
        sh.expect(r"sid True True")
        sh.expect(re.escape(PROMPT))

    def test_background_reader_stops_then_fg_resumes_it(self):
        sh = self.shell()
        sh.send('"$BYED" -q -- cat &\n')
        # cat reads in the background: the terminal stops it, and byed with
        # it, so the shell reports the job as stopped.
        sh.expect(r"Stopped")
        sh.send("fg\n")
        sh.expect(r"cat")
        sh.wait_reading("cat")
        sh.send("three\n")
        sh.expect(r"three\r\n(.*\r\n)?three\r\n")
        sh.send("\x04")
        sh.expect(re.escape(PROMPT))
        sh.send("echo rc=$?\n")
        sh.expect(r"rc=0")

    def test_ctrl_z_stops_every_worker_and_fg_continues_them(self):
        # Ctrl-Z reaches the worker that holds the terminal; the others, in
        # groups of their own, are stopped by byed with it: the whole job.
        tmp = tempfile.mkdtemp(prefix="byed-tty-")
        self.addCleanup(lambda: __import__("shutil").rmtree(tmp, True))
        sh = self.shell()
        sh.send(f'"$BYED" -q --workers 3 -- /bin/sh -c '
                f'\'echo $$ > {tmp}/w$BYED_WORKER; exec sleep 1000\'\n')
        files = [os.path.join(tmp, f"w{i}") for i in range(3)]

        def pids():
            try:
                return [int(open(f).read()) for f in files]
            except (OSError, ValueError):
                return None
        workers = wait_until(pids, timeout=30, what="three workers")

        def state(pid):
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0]

        sh.wait_reading("sleep")
        sh.send("\x1a")  # Ctrl-Z
        sh.expect(r"Stopped")
        sh.expect(re.escape(PROMPT))
        wait_until(lambda: all(state(p) == "T" for p in workers), timeout=30,
                   what=f"all of {workers} stopped")
        sh.send("fg\n")
        wait_until(lambda: all(state(p) == "S" for p in workers), timeout=30,
                   what=f"all of {workers} running again")
        sh.wait_reading("sleep")
        sh.send("\x03")  # Ctrl-C: the job ends
        sh.expect(re.escape(PROMPT))
        for p in workers:
            wait_until(lambda: not os.path.exists(f"/proc/{p}"), timeout=30,
                       what=f"worker {p} gone")

    def test_ctrl_c_stops_byed_and_the_shell_reads_again(self):
        sh = self.shell()
        sh.send('"$BYED" -q -- sleep 1000\n')
        sh.wait_reading("sleep")
        sh.send("\x03")  # Ctrl-C: INT to the foreground group (sleep's)
        sh.expect(re.escape(PROMPT))
        sh.send("echo rc=$?\n")
        sh.expect(r"rc=130")
        sh.send("read x; echo got=$x\n")
        sh.wait_reading("bash")
        sh.send("back\n")
        sh.expect(r"got=back")


class TerminalOwnershipTests(ByedTestCase):
    def test_only_the_serving_generation_owns_the_terminal(self):
        tmp = tempfile.mkdtemp(prefix="byed-tty-")
        count = os.path.join(tmp, "count")
        # Generations 1 and 3 say they are ready; 2 never does.
        prog = (f"n=$(cat {count} 2>/dev/null || echo 0); echo $((n+1)) > {count}; "
                "echo child=$$; case $n in 0|2) printf x >&$UPGRADE_FD;; esac; "
                "exec sleep 1000")
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        t = Pty([BYED, "--ready", "message", "--ready-timeout", "2s", "--",
                 "/bin/sh", "-c", prog], env)
        self.addCleanup(t.close)
        gen1 = int(t.expect(r"child=(\d+)").group(1))
        t.expect(r"gen=1 ready")
        self.assertEqual(t.foreground(), gen1)
        os.kill(t.pid, signal.SIGUSR1)
        gen2 = int(t.expect(r"child=(\d+)").group(1))
        self.assertNotEqual(gen2, gen1)
        self.assertEqual(t.foreground(), gen1, "a starting generation took it")
        t.expect(r"upgrade failed")
        self.assertEqual(t.foreground(), gen1, "a rollback moved it")
        os.kill(t.pid, signal.SIGUSR1)
        gen3 = int(t.expect(r"child=(\d+)").group(1))
        t.expect(r"upgrade done")
        wait_until(lambda: t.foreground() == gen3, what="gen 3 to own the tty")
        os.kill(t.pid, signal.SIGTERM)
        t.expect(r"gen=3 exited")


if __name__ == "__main__":
    unittest.main()
