"""What the child inherits: fds, stdio, signal state, environment, and that
it dies with byed."""

import os
import signal
import subprocess
import unittest

from byedtest import BYED, ByedTestCase, alive, helper, run_byed, wait_until


def _block_and_ignore():
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2, signal.SIGHUP})
    signal.signal(signal.SIGWINCH, signal.SIG_IGN)


class ChildTests(ByedTestCase):
    def test_child_has_only_stdio_and_its_ready_pipe(self):
        # An fd byed itself inherited (not close-on-exec) must not pass on.
        # The child gets 0, 1, 2 and the write end of its ready pipe, named
        # by UPGRADE_FD (bye's protocol) — nothing else of byed's.
        r, w = os.pipe()
        try:
            code, out, err = run_byed(["-q", "--", helper("fdlist")],
                                      pass_fds=(r, w),
                                      env={"FDLIST_ENV": "UPGRADE_FD"})
        finally:
            os.close(r)
            os.close(w)
        self.assertEqual(code, 0, err)
        self.assertIn("fds 0 1 2 3\n", out)
        self.assertIn("kind 3 pipe\n", out)
        self.assertIn("env UPGRADE_FD=3\n", out)

    def test_clean_signal_mask_and_default_dispositions(self):
        # Blocked signals are unblocked; byed's own dispositions (it ignores
        # PIPE) do not leak; a signal ignored by whoever started byed (WINCH
        # here) stays ignored, as under nohup.
        code, out, err = run_byed(["-q", "--", helper("fdlist")],
                                  preexec_fn=_block_and_ignore)
        self.assertEqual(code, 0, err)
        self.assertIn("sigblk 0000000000000000\n", out)
        winch = 1 << (signal.SIGWINCH - 1)
        self.assertIn(f"sigign {winch:016x}\n", out)

    def test_stdio_is_inherited_not_copied(self):
        p = subprocess.run([BYED, "-q", "--", "/bin/sh", "-c",
                            "read x; echo out=$x; echo err=$x >&2"],
                           input=b"hello\n", capture_output=True, timeout=10)
        self.assertEqual(p.returncode, 0)
        self.assertEqual(p.stdout, b"out=hello\n")
        self.assertEqual(p.stderr, b"err=hello\n")

    def test_byed_environment_is_consumed_not_passed_on(self):
        # (WATCHDOG_PID names another process: the watchdog is not byed's,
        # so nothing of it is passed on.)
        env = {"BYED_NAME": "x", "PIDFILE": "/tmp/p", "LISTEN_FDS": "1",
               "LISTEN_PID": "1", "WATCHDOG_USEC": "1", "WATCHDOG_PID": "1",
               "KEEP_ME": "yes",
               "FDLIST_ENV": "BYED_NAME,PIDFILE,LISTEN_FDS,LISTEN_PID,"
                             "WATCHDOG_USEC,KEEP_ME"}
        code, out, err = run_byed(["-q", "--", helper("fdlist")], env=env)
        self.assertEqual(code, 0, err)
        for name in ("BYED_NAME", "PIDFILE", "LISTEN_FDS", "LISTEN_PID",
                     "WATCHDOG_USEC"):
            self.assertIn(f"env {name}=<unset>\n", out)
        self.assertIn("env KEEP_ME=yes\n", out)

    def test_arguments_pass_verbatim(self):
        args = ["a b", "", "--flag", "ü", "$HOME"]
        code, out, _ = run_byed(["-q", "--", helper("fdlist")] + args)
        self.assertEqual(code, 0)
        for a in args:
            self.assertIn(f"arg {a}\n", out)

    def test_child_leads_its_own_process_group(self):
        code, out, _ = run_byed(["-q", "--", helper("fdlist")])
        line = next(l for l in out.splitlines() if l.startswith("pgid"))
        _, pgid, _, pid, _, _ = line.split()
        self.assertEqual(pgid, pid)

    def test_sigkill_to_byed_takes_the_child_down(self):
        b = self.start(["--", helper("sigrecorder"), "--ignore-stop"])
        child = b.child_pid()
        self.assertTrue(alive(child))
        b.proc.kill()
        b.proc.wait()
        wait_until(lambda: not alive(child), timeout=1.0,
                   what=f"child {child} to die after byed was SIGKILLed")


if __name__ == "__main__":
    unittest.main()
