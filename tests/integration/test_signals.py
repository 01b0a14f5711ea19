"""Signals: stop signals, forwarding, stop timeout, the upgrade signal."""

import signal
import time
import unittest

from byedtest import ByedTestCase, alive, helper


class SignalTests(ByedTestCase):
    def test_stop_signals_reach_child_and_exit_code_is_128_plus_n(self):
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            with self.subTest(sig=sig.name):
                b = self.start(["--", helper("sigrecorder")])
                b.child_pid()
                b.signal(sig)
                self.assertEqual(b.read_line("signal "), f"signal {sig.name[3:]}")
                code, _, err = b.wait()
                self.assertEqual(code, 128 + sig, err)

    def test_other_signals_are_forwarded_unchanged(self):
        b = self.start(["--", helper("sigrecorder")])
        b.child_pid()
        # (TSTP, TTIN and TTOU are job control: test_terminal.py.)
        for sig in (signal.SIGHUP, signal.SIGUSR2, signal.SIGWINCH,
                    signal.SIGALRM, signal.SIGURG, signal.SIGCONT):
            with self.subTest(sig=sig.name):
                b.signal(sig)
                self.assertEqual(b.read_line("signal "), f"signal {sig.name[3:]}")
        self.assertIsNone(b.proc.poll(), "byed must survive forwarded signals")
        b.signal(signal.SIGTERM)
        code, _, _ = b.wait()
        self.assertEqual(code, 128 + signal.SIGTERM)

    def test_child_ignoring_term_is_killed_after_stop_timeout(self):
        b = self.start(["--stop-timeout", "1s", "--", helper("sigrecorder"),
                        "--ignore-stop"])
        child = b.child_pid()
        t0 = time.monotonic()
        b.signal(signal.SIGTERM)
        self.assertEqual(b.read_line("signal "), "signal TERM")
        code, _, err = b.wait(timeout=10)
        elapsed = time.monotonic() - t0
        self.assertEqual(code, 128 + signal.SIGKILL, err)
        self.assertGreaterEqual(elapsed, 0.95)
        self.assertLess(elapsed, 5)
        self.assertIn("still running after stop-timeout, sending KILL", err)
        self.assertFalse(alive(child))

    def test_same_stop_signal_again_is_forwarded_again(self):
        b = self.start(["--stop-timeout", "0", "--", helper("sigrecorder"),
                        "--ignore-stop"])
        b.child_pid()
        b.signal(signal.SIGTERM)
        self.assertEqual(b.read_line("signal "), "signal TERM")
        b.signal(signal.SIGTERM)
        self.assertEqual(b.read_line("signal "), "signal TERM")
        b.signal(signal.SIGINT)
        self.assertEqual(b.read_line("signal "), "signal INT")
        # --stop-timeout 0: byed never kills on its own; still running.
        self.assertIsNone(b.proc.poll())
        b.kill()

    def test_upgrade_signal_is_never_forwarded_and_does_not_stop(self):
        b = self.start(["--", helper("sigrecorder")])
        b.child_pid()
        b.signal(signal.SIGUSR1)
        b.signal(signal.SIGHUP)
        # Delivered in order: had USR1 been forwarded, it would come first.
        self.assertEqual(b.read_line("signal "), "signal HUP")
        b.read_line("USR1", stream="err")
        b.signal(signal.SIGTERM)
        code, out, _ = b.wait()
        self.assertEqual(code, 128 + signal.SIGTERM)
        self.assertNotIn("USR1", out)

    def test_custom_upgrade_signal_frees_usr1_for_the_child(self):
        b = self.start(["--upgrade-signal", "USR2", "--", helper("sigrecorder")])
        b.child_pid()
        b.signal(signal.SIGUSR2)
        b.signal(signal.SIGUSR1)
        self.assertEqual(b.read_line("signal "), "signal USR1")
        b.signal(signal.SIGTERM)
        self.assertEqual(b.wait()[0], 128 + signal.SIGTERM)


if __name__ == "__main__":
    unittest.main()
