"""Exit status: the child's code, 128+N, 127/126, and usage errors (2)."""

import json
import os
import signal
import tempfile
import unittest

from byedtest import ByedTestCase, helper, run_byed


class ExitStatusTests(ByedTestCase):
    def test_every_exit_code_passes_through(self):
        for code in range(256):
            got, _, err = run_byed(["-q", "--", "/bin/sh", "-c", f"exit {code}"])
            self.assertEqual(got, code, err)

    def test_death_by_signal_is_128_plus_n(self):
        for sig in (9, 11, 6, 15):
            got, _, _ = run_byed(["-q", "--", "/bin/sh", "-c", f"kill -{sig} $$"])
            self.assertEqual(got, 128 + sig)

    def test_log_lines_carry_the_name_and_end_with_exiting(self):
        code, _, err = run_byed(["--", "/bin/sh", "-c", "exit 3"])
        self.assertEqual(code, 3, err)
        lines = err.splitlines()
        # The tag is --name, by default the program's basename.
        for line in lines:
            self.assertRegex(line, r"^sh\[\d+\]: ")
        self.assertRegex(lines[-1], r"^sh\[\d+\]: exiting status=3 "
                                    r'reason="gen 1 exit code 3"$')
        code, _, err = run_byed(["--name", "web", "--log-format", "json",
                                 "--", "/bin/sh", "-c", "exit 4"])
        self.assertEqual(code, 4, err)
        records = [json.loads(l) for l in err.splitlines()]
        self.assertTrue(all(r["name"] == "web" for r in records), err)
        self.assertEqual(records[-1]["msg"], "exiting")
        self.assertEqual(records[-1]["status"], 4)  # numbers as numbers
        self.assertEqual(records[-1]["reason"], "gen 1 exit code 4")

    def test_the_last_line_says_who_stopped_byed(self):
        b = self.start(["--name", "rec", "--", helper("sigrecorder")])
        b.child_pid()
        b.signal(signal.SIGTERM)
        code, _, err = b.wait()
        self.assertEqual(code, 128 + signal.SIGTERM, err)
        self.assertTrue(err.splitlines()[-1].startswith("rec["), err)
        self.assertIn('exiting status=143 reason="stop requested by signal '
                      'TERM: gen 1 killed by signal TERM"', err.splitlines()[-1])

    def test_program_not_found_is_127_with_message(self):
        code, _, err = run_byed(["--", "./no-such-server"])
        self.assertEqual(code, 127)
        self.assertIn("cannot run './no-such-server': No such file or directory",
                      err)
        # One line says it (then the closing `exiting` line), not three.
        self.assertEqual(err.count("cannot run"), 2, err)
        self.assertNotIn(" exited pid=", err)
        self.assertTrue(err.splitlines()[-1].startswith("no-such-server["), err)
        code, _, err = run_byed(["--", "no-such-program-in-path"])
        self.assertEqual(code, 127)
        self.assertIn("No such file or directory", err)

    def test_program_not_executable_is_126_with_message(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "server")
            with open(path, "w") as f:
                f.write("#!/bin/sh\necho hi\n")
            os.chmod(path, 0o644)
            code, _, err = run_byed(["--", path])
            self.assertEqual(code, 126)
            self.assertIn(f"cannot run '{path}': Permission denied", err)
            code, _, err = run_byed(["--", d])  # a directory
            self.assertEqual(code, 126)
            self.assertIn("Permission denied", err)

    def test_usage_errors_exit_2_with_one_line(self):
        cases = [
            (["--no-such-flag", "--", "true"], "--no-such-flag"),
            ([], "no program given"),
            (["--"], "no program given"),
            (["--stop-timeout", "5", "--", "true"], "not a duration"),
            (["--stop-timeout", "-1s", "--", "true"], "not a duration"),
            (["--upgrade-signal", "NOPE", "--", "true"], "not a catchable signal"),
            (["--upgrade-signal", "KILL", "--", "true"], "not a catchable signal"),
            (["--upgrade-signal", "TERM", "--", "true"], "keep their own meaning"),
            (["--log-format", "xml", "--", "true"], "--log-format"),
        ]
        for args, needle in cases:
            with self.subTest(args=args):
                code, out, err = run_byed(args)
                self.assertEqual(code, 2, err)
                self.assertEqual(out, "")
                lines = err.strip().splitlines()
                self.assertEqual(len(lines), 1, err)
                self.assertTrue(lines[0].startswith("byed: "), err)
                self.assertIn(needle, lines[0])
                self.assertIn("--help", lines[0])

    def test_help_and_version(self):
        code, out, _ = run_byed(["--help"])
        self.assertEqual(code, 0)
        self.assertIn("--stop-timeout", out)
        code, out, _ = run_byed(["--version"])
        self.assertEqual(code, 0)
        self.assertRegex(out, r"^byed \d+\.\d+\.\d+ \(\w+\)")

    def test_command_without_double_dash_and_with_dashes_after(self):
        code, out, _ = run_byed(["-q", "/bin/echo", "x", "-q", "--x"])
        self.assertEqual((code, out), (0, "x -q --x\n"))
        code, out, _ = run_byed(["-q", "--", "/bin/echo", "--", "-q"])
        self.assertEqual((code, out), (0, "-- -q\n"))


if __name__ == "__main__":
    unittest.main()
