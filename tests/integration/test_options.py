"""byed's command line as users meet it: options from the environment (a
flag wins), usage errors that exit 2 with one line naming the culprit, and
a --help that teaches."""

import os
import signal
import tempfile
import unittest

from byedtest import (ByedTestCase, helper, process_state, run_byed,
                      wait_until)


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


class UsageErrorTests(unittest.TestCase):
    def assert_usage_error(self, args, culprit, env=None):
        """Exit 2, nothing on stdout, one line on stderr that names the
        culprit and points at --help; the program never ran."""
        with tempfile.TemporaryDirectory() as d:
            ran = os.path.join(d, "ran")
            code, out, err = run_byed(
                args + ["--", "/bin/sh", "-c", f"touch {ran}"], env=env)
            self.assertEqual(code, 2, err)
            self.assertEqual(out, "")
            lines = err.splitlines()
            self.assertEqual(len(lines), 1, err)
            self.assertTrue(lines[0].startswith("byed: "), err)
            self.assertIn(culprit, lines[0])
            self.assertTrue(lines[0].endswith("(see 'byed --help')"), err)
            self.assertFalse(os.path.exists(ran))
        return lines[0]

    def test_each_error_names_its_culprit(self):
        cases = [
            (["--listen", "nonsense"], "'nonsense': neither a port"),
            (["--listen", "nonsense"], "nor an address"),
            (["--listen", "70000"], "port 70000 is out of range"),
            (["--listen", "127.0.0.1:http"], "'http' is not a port"),
            (["--rewrite", "FOO:TERM"], "'FOO' is not a signal"),
            (["--rewrite", "TERM:BAR"], "'BAR' is not a signal"),
            (["--rewrite", "SYS:TERM"], "byed never catches SYS"),
            (["--rewrite", "SEGV:TERM"], "byed never catches SEGV"),
            (["--rewrite", "PIPE:TERM"], "byed never catches PIPE"),
            (["--rewrite", "KILL:TERM"], "byed never catches KILL"),
            (["--rewrite", "CHLD:TERM"], "--rewrite CHLD"),
            (["--rewrite", "USR1:TERM"], "it is the upgrade signal"),
            (["--name", ""], "--name '': empty"),
            (["--stop-timeout", "5"], "--stop-timeout '5': not a duration"),
        ]
        for args, culprit in cases:
            with self.subTest(args=args):
                self.assert_usage_error(args, culprit)

    def test_a_bad_variable_is_named(self):
        for env, culprit in (
                ({"BYED_STOP_TIMEOUT": "5"}, "BYED_STOP_TIMEOUT: "),
                ({"BYED_REWRITE": "TERM:QUIT,FOO:TERM"}, "'FOO' is not a"),
                ({"BYED_QUIET": "maybe"}, "BYED_QUIET='maybe'"),
                ({"BYED_READY": "message,2s"}, "BYED_READY holds one rule"),
                ({"BYED_LISTEN": "80,nonsense"}, "BYED_LISTEN: --listen")):
            with self.subTest(env=env):
                self.assert_usage_error([], culprit, env=env)


class RewriteTargetTests(ByedTestCase):
    def test_kill_as_a_target_like_dumb_init(self):
        # --rewrite 15:9: the TERM that stops byed reaches the child as KILL.
        b = self.start(["--rewrite", "15:9", "--", helper("sigrecorder")])
        b.child_pid()
        b.signal(signal.SIGTERM)
        code, out, err = b.wait()
        self.assertEqual(code, 128 + signal.SIGKILL, err)
        self.assertNotIn("signal TERM", out)

    def test_stop_as_a_target(self):
        b = self.start(["--rewrite", "USR2:STOP", "--", helper("sigrecorder")])
        pid = b.child_pid()
        b.signal(signal.SIGUSR2)
        wait_until(lambda: process_state(pid) == "T", timeout=30,
                   what="the child stopped by the rewritten USR2")
        os.kill(pid, signal.SIGCONT)
        self.assertEqual(b.read_line("signal "), "signal CONT")
        b.signal(signal.SIGTERM)
        self.assertEqual(b.read_line("signal "), "signal TERM")
        self.assertEqual(b.wait()[0], 128 + signal.SIGTERM)


class HelpTests(unittest.TestCase):
    def help(self):
        code, out, err = run_byed(["--help"])
        self.assertEqual((code, err), (0, ""))
        return out

    def test_help_teaches_usage_values_environment_and_examples(self):
        text = self.help()
        lines = text.splitlines()
        self.assertEqual(lines[0], "Usage: byed [OPTIONS] -- PROGRAM [ARGS...]")
        self.assertIn("byed ctl", lines[1])
        for heading in ("Options:", "Values:", "Environment:", "Examples:"):
            self.assertIn(heading, lines)
        values = text[text.index("\nValues:"):text.index("\nEnvironment:")]
        for grammar in ("DUR ", "1m30s", "SIG ", "SIGTERM", "RTMIN+N",
                        "[NAME=]ADDR", "unix:/PATH", "RULE", "exec:CMD"):
            self.assertIn(grammar, values)
        examples = text[text.index("\nExamples:"):]
        for example in ('ENTRYPOINT ["/byed"', "ExecStart=/usr/bin/byed",
                        "$ byed ctl --control", "--exit-role follower",
                        "--restart on-failure"):
            self.assertIn(example, examples)
        # Help2man reads an option and its text apart only where two spaces
        # or a new line separate them; the text never runs past 79 columns.
        for line in text[:text.index("\nExamples:")].splitlines():
            self.assertLessEqual(len(line), 79, line)
            if line.startswith("  -"):
                self.assertRegex(line, r"^  -\S*(?: \S+)*(?:  +\S|$)", line)

    def test_every_variable_is_in_the_help_and_the_man_page(self):
        import os
        import re
        from byedtest import BYED
        text = self.help()
        env = text[text.index("\nEnvironment:"):text.index("\nExamples:")]
        names = set(re.findall(r"^  ([A-Z][A-Z_]+)  ", env, re.M))
        options = set(re.findall(
            r"(?<![\w-])--([a-z][a-z-]+)",
            text[text.index("\nOptions:"):text.index("\nValues:")]))
        options -= {"help", "version"}
        for opt in options:
            self.assertIn("BYED_" + opt.upper().replace("-", "_"), names, opt)
        for name in ("EXIT_DIR", "PIDFILE", "TINI_KILL_PROCESS_GROUP",
                     "TINI_SUBREAPER", "TINI_VERBOSITY", "DUMB_INIT_SETSID"):
            self.assertIn(name, names)
        man = os.path.join(os.path.dirname(BYED), "byed.1")
        if not os.path.exists(man):
            self.skipTest("help2man not installed: no man page built")
        with open(man) as f:
            page = f.read().replace("\\-", "-")
        sections = dict(re.findall(r'^\.SH "?([A-Z ]+)"?\n(.*?)(?=^\.SH |\Z)',
                                   page, re.M | re.S))
        for name in names | {"LISTEN_FDS", "NOTIFY_SOCKET"}:
            self.assertIn(name, sections["ENVIRONMENT"], name)
        self.assertIn("byed ctl", sections["EXAMPLES"])
        self.assertEqual(page.count("starts PROGRAM as its child"), 1)
        # No option whose text ran into its name (a garbled entry).
        for tag in re.findall(r"^\.TP\n(.*)$", sections["OPTIONS"], re.M):
            self.assertLess(len(re.sub(r"\\f.", "", tag)), 30, tag)
