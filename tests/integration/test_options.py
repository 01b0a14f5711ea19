"""byed's command line as users meet it: options from the environment (a
flag wins), usage errors that exit 2 with one line naming the culprit, and
a --help that teaches."""

import signal
import unittest

from byedtest import ByedTestCase, helper, run_byed


class EnvironmentTests(ByedTestCase):
    def test_a_variable_sets_an_option_and_a_flag_wins(self):
        exit3 = ["--", "/bin/sh", "-c", "exit 3"]
        code, _, err = run_byed(exit3, env={"BYED_SUCCESS_STATUS": "143,3"})
        self.assertEqual(code, 0, err)
        code, _, err = run_byed(["--success-status", "4"] + exit3,
                                env={"BYED_SUCCESS_STATUS": "3"})
        self.assertEqual(code, 3, err)

    def test_quiet_and_log_format_by_variable(self):
        code, _, err = run_byed(["--", "/bin/true"], env={"BYED_QUIET": "1"})
        self.assertEqual((code, err), (0, ""))
        code, _, err = run_byed(["--", "/bin/true"],
                                env={"BYED_LOG_FORMAT": "json"})
        self.assertEqual(code, 0, err)
        lines = self.json_lines(err)
        self.assertTrue(lines, err)
        self.assertTrue(all("msg" in l for l in lines), err)

    def test_rewrite_list_by_variable(self):
        b = self.start(["--", helper("sigrecorder")],
                       env={"BYED_REWRITE": "USR2:none,HUP:WINCH"})
        b.child_pid()
        b.signal(signal.SIGUSR2)
        b.signal(signal.SIGHUP)
        # USR2 was dropped: the first signal the child sees is HUP, as WINCH.
        self.assertEqual(b.read_line("signal "), "signal WINCH")
        b.signal(signal.SIGTERM)
        self.assertEqual(b.wait()[0], 128 + signal.SIGTERM)


if __name__ == "__main__":
    unittest.main()
