"""What tini and dumb-init users rely on, in byed: signal rewriting, group
forwarding, exit-status remapping, a free USR1, a parent-death signal, a
quiet mode that still says when it refuses to start, and tini's and
dumb-init's own variables (TINI_*, DUMB_INIT_SETSID)."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

from byedtest import (BYED, ByedTestCase, helper, process_state, run_byed,
                      slurp, wait_until)


class DropInTests(ByedTestCase):
    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="byed-dropin-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_rewrite_term_to_quit_reaches_the_child_and_byed_stops(self):
        b = self.start(["--rewrite", "TERM:QUIT", "--", helper("sigrecorder")])
        b.child_pid()
        b.signal(signal.SIGTERM)
        self.assertEqual(b.read_line("signal "), "signal QUIT")
        code, _, err = b.wait()
        self.assertEqual(code, 128 + signal.SIGQUIT, err)
        self.assertIn("stopping signal=QUIT", err)

    def test_rewrite_to_none_ignores_a_signal(self):
        b = self.start(["--rewrite", "USR2:none", "--rewrite", "HUP:WINCH",
                        "--", helper("sigrecorder")])
        b.child_pid()
        b.signal(signal.SIGUSR2)
        b.signal(signal.SIGHUP)
        # USR2 was dropped: the first signal the child sees is HUP, as WINCH.
        self.assertEqual(b.read_line("signal "), "signal WINCH")
        self.assertIsNone(b.proc.poll())
        b.signal(signal.SIGTERM)
        self.assertEqual(b.wait()[0], 128 + signal.SIGTERM)

    def test_bad_values_are_usage_errors(self):
        for args in (["--rewrite", "TERM"], ["--rewrite", "TERM:BOGUS"],
                     ["--rewrite", "USR1:HUP"], ["--forward-to", "pgrp"],
                     ["--success-status", "256"], ["--success-status", "x"],
                     ["--parent-death-signal", "KILL"],
                     ["--upgrade-signal", "nothing"]):
            with self.subTest(args=args):
                code, _, err = run_byed(args + ["--", "/bin/true"])
                self.assertEqual(code, 2, err)
                self.assertEqual(len(err.strip().splitlines()), 1, err)

    def test_group_forwarding_reaches_a_background_process_of_a_script(self):
        # The script does not exec its server: without --forward-to group
        # only sh would get the signal.
        script = f'"{helper("sigrecorder")}" & wait'
        b = self.start(["--forward-to", "group", "--", "/bin/sh", "-c", script])
        b.child_pid()
        b.signal(signal.SIGWINCH)  # sh ignores WINCH; the recorder reports it
        self.assertEqual(b.read_line("signal "), "signal WINCH")
        b.signal(signal.SIGTERM)
        self.assertEqual(b.read_line("signal "), "signal TERM")
        code, _, err = b.wait()
        self.assertEqual(code, 128 + signal.SIGTERM, err)

    def test_tini_and_dumb_init_variables_choose_group_forwarding(self):
        for env in ({"TINI_KILL_PROCESS_GROUP": "1"},
                    {"DUMB_INIT_SETSID": "1"}):
            with self.subTest(env=env):
                script = f'"{helper("sigrecorder")}" & wait'
                b = self.start(["-v", "--", "/bin/sh", "-c", script], env=env)
                b.child_pid()
                b.signal(signal.SIGWINCH)
                self.assertEqual(b.read_line("signal "), "signal WINCH")
                (name, value), = env.items()
                b.read_line(f"{name}={value}: --forward-to group",
                            stream="err")
                b.signal(signal.SIGTERM)
                self.assertEqual(b.wait()[0], 128 + signal.SIGTERM)

    def test_a_flag_wins_over_tini_and_dumb_init_setsid_0_is_child(self):
        for args, env, note in (
                (["--forward-to", "child"], {"TINI_KILL_PROCESS_GROUP": "1"},
                 "TINI_KILL_PROCESS_GROUP=1: ignored, --forward-to is given"),
                ([], {"DUMB_INIT_SETSID": "0"},
                 "DUMB_INIT_SETSID=0: --forward-to child")):
            with self.subTest(env=env):
                script = f'"{helper("sigrecorder")}" & wait'
                b = self.start(["-v"] + args + ["--", "/bin/sh", "-c", script],
                               env=env)
                b.child_pid()
                b.read_line(note, stream="err")
                b.signal(signal.SIGWINCH)
                b.signal(signal.SIGTERM)
                # sh got both; the recorder heard only the stop, once sh
                # had gone.
                self.assertEqual(b.read_line("signal "), "signal TERM")
                code, out, err = b.wait()
                self.assertNotIn("signal WINCH", out)

    def test_tini_verbosity_maps_to_quiet_and_verbose(self):
        code, _, err = run_byed(["--", "/bin/true"],
                                env={"TINI_VERBOSITY": "1"})
        self.assertEqual((code, err), (0, ""))  # -q: no info lines
        code, _, err = run_byed(["--", "/bin/true"],
                                env={"TINI_VERBOSITY": "3"})
        self.assertEqual(code, 0, err)
        self.assertIn("TINI_VERBOSITY=3: -v", err)  # a debug line
        code, _, err = run_byed(["--", "/bin/true"],
                                env={"TINI_VERBOSITY": "3", "BYED_QUIET": "1"})
        self.assertEqual((code, err), (0, ""))  # byed's own variable wins

    def test_tini_subreaper_is_a_no_op_and_the_variables_are_passed_on(self):
        env = {"TINI_SUBREAPER": "", "TINI_KILL_PROCESS_GROUP": "1",
               "TINI_VERBOSITY": "3", "DUMB_INIT_SETSID": "0"}
        code, out, err = run_byed(
            ["--", "/bin/sh", "-c",
             'echo "${TINI_SUBREAPER+set}/$TINI_KILL_PROCESS_GROUP/'
             '$TINI_VERBOSITY/$DUMB_INIT_SETSID"'], env=env)
        self.assertEqual(code, 0, err)
        self.assertEqual(out, "set/1/3/0\n")
        self.assertIn("TINI_SUBREAPER=: nothing to do, byed always reaps",
                      err)

    def test_child_forwarding_is_the_default(self):
        script = f'"{helper("sigrecorder")}" & wait'
        b = self.start(["--", "/bin/sh", "-c", script])
        b.child_pid()
        b.signal(signal.SIGWINCH)
        b.signal(signal.SIGTERM)
        # sh got both; the recorder heard only the stop, once sh had gone.
        self.assertEqual(b.read_line("signal "), "signal TERM")
        code, out, err = b.wait()
        self.assertNotIn("signal WINCH", out)

    def test_success_status_maps_a_term_death_to_zero(self):
        b = self.start(["--success-status", "143", "--", helper("sigrecorder")])
        b.child_pid()
        b.signal(signal.SIGTERM)
        code, _, err = b.wait()
        self.assertEqual(code, 0, err)
        code, _, err = run_byed(["--success-status", "143", "--", "/bin/sh",
                                 "-c", "exit 3"])
        self.assertEqual(code, 3, err)

    def test_upgrade_signal_none_forwards_usr1_and_ctl_still_upgrades(self):
        ctl = os.path.join(self.tmp, "ctl.sock")
        b = self.start(["--upgrade-signal", "none", "--control", ctl,
                        "--ready", "200ms", "--", helper("sigrecorder")])
        b.child_pid()
        b.read_line("gen=1 ready", stream="err")
        b.signal(signal.SIGUSR1)
        self.assertEqual(b.read_line("signal "), "signal USR1")
        p = subprocess.run([BYED, "ctl", "--control", ctl, "upgrade"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("upgraded: gen 2", p.stdout)
        b.signal(signal.SIGTERM)
        b.wait()

    # A program that says it is ready (a byte on UPGRADE_FD) once its
    # handlers are in place, then waits; HANDLE=1: with a USR1 handler.
    PROGRAM = (
        "import os, signal, sys, time\n"
        "if os.environ.get('HANDLE') == '1':\n"
        "    signal.signal(signal.SIGUSR1, lambda *a: print('usr1', flush=True))\n"
        "os.write(int(os.environ['UPGRADE_FD']), b'x')\n"
        "print('ready pid=%d' % os.getpid(), flush=True)\n"
        "while True: time.sleep(60)\n")

    def run_python(self, handle):
        """byed in front of the program: ready, upgraded once by USR1 (the
        new copy is ready too), stopped; returns byed's stderr."""
        b = self.start(["--ready", "message", "--", sys.executable, "-c",
                        self.PROGRAM], env={"HANDLE": handle})
        b.child_pid()
        b.read_line("gen=1 ready", stream="err")
        b.signal(signal.SIGUSR1)
        b.read_line("gen=2 upgrade done", stream="err")
        b.signal(signal.SIGTERM)
        code, _, err = b.wait(timeout=30)
        self.assertEqual(code, 128 + signal.SIGTERM, err)
        return b.err_all.decode(errors="replace")

    def test_a_program_that_catches_usr1_is_warned_about_once(self):
        err = self.run_python("1")
        warnings = [l for l in err.splitlines() if "catches USR1" in l]
        self.assertEqual(len(warnings), 1, err)
        self.assertIn("warning:", warnings[0])
        self.assertIn("--upgrade-signal none", warnings[0])
        self.assertIn("gen=1 ", warnings[0])

    def test_a_program_without_a_usr1_handler_is_not_warned_about(self):
        err = self.run_python("0")
        self.assertIn("gen=2 upgrade done", err)
        self.assertNotIn("catches", err)

    def test_parent_death_signal_when_the_parent_is_killed(self):
        out = os.path.join(self.tmp, "out")
        # The sh that started byed waits; SIGKILL to it must reach byed as TERM.
        p, byed = self.start_behind_shell(
            ["--parent-death-signal", "TERM", "--", helper("sigrecorder")], out)
        wait_until(lambda: "ready pid=" in slurp(out), what="the child")
        p.kill()
        p.wait()
        wait_until(lambda: "signal TERM" in slurp(out), timeout=30,
                   what="TERM in the child")
        wait_until(lambda: process_state(byed) in (None, "Z"), timeout=30,
                   what="byed to stop")

    def test_quiet_keeps_the_ignored_signals_and_no_subreaper_warnings(self):
        # nohup: HUP ignored by whoever started byed, as tini -w would say.
        code, _, err = run_byed(["-q", "--no-subreaper", "--", "/bin/true"],
                                prefix=["nohup"])
        self.assertEqual(code, 0, err)
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 2, err)
        self.assertIn("warning: signals ignored by whoever started byed stay "
                      "ignored signals=", lines[0])
        self.assertIn("HUP", lines[0].rsplit("signals=", 1)[1].split(","))
        self.assertIn("warning: --no-subreaper and not PID 1", lines[1])
        # Without -q, and the last line is the exit.
        code, _, err = run_byed(["--", "/bin/true"])
        self.assertIn("exiting status=0", err.strip().splitlines()[-1])

    def test_quiet_refusal_is_still_a_warning(self):
        open(os.path.join(self.tmp, "peer.exit"), "w").close()
        code, out, err = run_byed(["-q", "--exit-dir", self.tmp, "--",
                                   "/bin/echo", "ran"])
        self.assertEqual(code, 0, err)
        self.assertEqual(out, "")  # the program was not started
        self.assertIn("not starting: the exit dir already has an entry", err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)


if __name__ == "__main__":
    unittest.main()
