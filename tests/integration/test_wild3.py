"""Round 3 of "right in the wild": each case as a user meets it — a terminal
with --restart, an upgrade in a terminal, the serving generation dying
mid-upgrade, a full disk, --success-status with restarts, EXIT_DIR moved
away, TSTP without a terminal, an ignored rewrite target."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest

from byedtest import (BYED, ByedTestCase, GenerationsTestCase, alive, helper,
                      process_state, run_byed, slurp, wait_until)
from test_terminal import PROMPT, Pty, TerminalTestCase


class TerminalRestartTests(TerminalTestCase):
    def test_ctrl_c_with_restart_stops_instead_of_restarting(self):
        for key, code in (("\x03", 130), ("\x1c", 131)):
            with self.subTest(code=code):
                sh = self.shell()
                sh.send('"$BYED" --restart always -- sleep 1000\n')
                sh.wait_reading("sleep")
                sh.send(key)
                sh.expect(re.escape(PROMPT))
                sh.send("echo rc=$?\n")
                sh.expect(rf"rc={code}")
                self.assertNotIn("restarting", sh.buf)

    def test_upgrade_in_a_terminal_hands_over_a_running_generation(self):
        # The new generation reads the terminal while it starts: from the
        # background it is stopped (TTIN). A stopped generation is never
        # ready; the one handed the terminal is continued.
        tmp = tempfile.mkdtemp(prefix="byed-tty-")
        self.addCleanup(shutil.rmtree, tmp, True)
        count = os.path.join(tmp, "count")
        prog = (f"n=$(cat {count} 2>/dev/null || echo 0); "
                f"echo $((n+1)) > {count}; echo child=$$ gen=$((n+1)); "
                "read line; echo got=$line; exec sleep 1000")
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        t = Pty([BYED, "--ready", "1s", "--ready-timeout", "3s", "--",
                 "/bin/sh", "-c", prog], env)
        self.addCleanup(t.close)
        gen1 = int(t.expect(r"child=(\d+) gen=1").group(1))
        wait_until(lambda: process_state(gen1) == "S", what="gen 1 to read")
        t.send("first\n")
        t.expect(r"got=first")
        t.expect(r"gen=1 ready")
        os.kill(t.pid, signal.SIGUSR1)
        gen2 = int(t.expect(r"child=(\d+) gen=2").group(1))
        wait_until(lambda: process_state(gen2) == "T",
                   what="gen 2 stopped by its background read")
        # Stopped: never ready, even after 1s alive; the upgrade fails and
        # gen 1 keeps the terminal and serves.
        t.expect(r"upgrade failed: not ready within 3s")
        self.assertNotIn("upgrade done", t.buf)
        self.assertEqual(t.foreground(), gen1)
        self.assertEqual(process_state(gen1), "S")


class ServingDiesMidUpgradeTests(GenerationsTestCase):
    def test_default_restart_no_keeps_the_new_generation(self):
        # Gen 1 is killed (as by the OOM killer) while gen 2 warms up: gen 2
        # becomes the service once ready; byed does not exit.
        prog = (f"m=$(cat {self.mode_file}); echo child=$$ mode=$m; "
                "if [ \"$m\" = slow ]; then read x < " + self.tmp + "/go; fi; "
                "printf x >&$UPGRADE_FD; exec sleep 1000")
        os.mkfifo(os.path.join(self.tmp, "go"))
        b = self.start(["--ready", "message", "--", "/bin/sh", "-c", prog])
        gen1 = int(b.read_line("child=").split()[0].split("=")[1])
        b.read_line("gen=1 ready", stream="err")
        self.set_mode("slow")
        b.signal(signal.SIGUSR1)
        gen2 = int(b.read_line("child=").split()[0].split("=")[1])
        os.kill(gen1, signal.SIGKILL)
        b.read_line("serving generation ended during an upgrade", stream="err")
        with open(os.path.join(self.tmp, "go"), "w") as f:
            f.write("go\n")
        b.read_line("upgrade done", stream="err")
        self.assertIsNone(b.proc.poll())
        self.assertTrue(alive(gen2))
        b.signal(signal.SIGTERM)
        code, _, _ = b.wait()
        self.assertEqual(code, 128 + signal.SIGTERM)


class SuccessStatusRestartTests(ByedTestCase):
    def test_declared_success_is_not_restarted(self):
        code, _, err = run_byed(["--restart", "on-failure", "--success-status",
                                 "3", "--", "/bin/sh", "-c", "exit 3"])
        self.assertEqual(code, 0, err)
        self.assertNotIn("restarting", err)


class ExitDirRound3Tests(ByedTestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="byed-exitdir-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def test_moved_away_directory_is_no_longer_watched(self):
        b = self.start(["--exit-dir", self.dir, "--name", "side", "--",
                        helper("sigrecorder")])
        child = b.child_pid()
        moved = self.dir + ".moved"
        os.rename(self.dir, moved)
        self.addCleanup(shutil.rmtree, moved, True)
        b.read_line("no longer watched", stream="err")
        open(os.path.join(moved, "peer.exit"), "w").close()
        # As the log line says: the child keeps running. A HUP forwarded
        # after the entry proves byed handled everything before it.
        b.signal(signal.SIGHUP)
        self.assertEqual(b.read_line("signal "), "signal HUP")
        self.assertTrue(alive(child))
        b.signal(signal.SIGTERM)
        self.assertEqual(b.read_line("signal "), "signal TERM")
        b.wait()

    @unittest.skipUnless(os.geteuid() == 0, "mounts a tmpfs")
    def test_full_disk_leaves_an_empty_marker(self):
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs",
                        self.dir], check=True)
        self.addCleanup(subprocess.run, ["umount", self.dir])
        try:
            with open(os.path.join(self.dir, ".filler"), "wb") as f:
                while True:
                    f.write(b"x" * 4096)
                    f.flush()
        except OSError:
            pass  # full
        code, _, err = run_byed(["--exit-dir", self.dir, "--exit-role",
                                 "leader", "--name", "main", "--", "true"])
        self.assertEqual(code, 0, err)
        self.assertIn("No space left on device", err)
        self.assertIn("left an empty exit marker instead", err)
        marker = os.path.join(self.dir, "main.exit")
        self.assertTrue(os.path.isfile(marker))
        self.assertEqual(os.path.getsize(marker), 0)


class NoTerminalJobControlTests(ByedTestCase):
    def test_tstp_stops_byed_and_its_program_together(self):
        # dumb-init's shell_background_test: without a terminal the program
        # has a session of its own, which TSTP cannot stop; byed sends STOP.
        b = self.start(["-q", "--", "sleep", "1000"], prefix=["setsid"])
        def child():
            for line in slurp(f"/proc/{b.pid}/task/{b.pid}/children").split():
                return int(line)
        pid = wait_until(child, what="byed's child")
        wait_until(lambda: process_state(pid) == "S", what="sleep to run")
        b.signal(signal.SIGTSTP)
        wait_until(lambda: process_state(b.pid) == "T", what="byed stopped")
        wait_until(lambda: process_state(pid) == "T", what="sleep stopped")
        b.signal(signal.SIGCONT)
        wait_until(lambda: process_state(b.pid) == "S", what="byed running")
        wait_until(lambda: process_state(pid) == "S", what="sleep running")
        b.signal(signal.SIGTERM)
        code, _, _ = b.wait()
        self.assertEqual(code, 128 + signal.SIGTERM)


class IgnoredRewriteTargetTests(ByedTestCase):
    def test_rewrite_to_an_ignored_signal_is_said_at_start(self):
        # `&` in a script: INT and QUIT ignored for byed and so its child.
        out = os.path.join(tempfile.mkdtemp(prefix="byed-ign-"), "log")
        self.addCleanup(shutil.rmtree, os.path.dirname(out), True)
        _, byed = self.start_behind_shell(
            ["--rewrite", "TERM:QUIT", "--", "sleep", "1000"], out)
        wait_until(lambda: "which whoever started byed ignores" in slurp(out),
                   what="the warning")
        self.assertIn("--rewrite TERM:QUIT sends QUIT", slurp(out))
        os.kill(byed, signal.SIGKILL)


if __name__ == "__main__":
    unittest.main()
