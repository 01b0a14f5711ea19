"""EXIT_DIR: members of a group stop together and leave atomic markers."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import unittest

from byedtest import ByedTestCase, alive, helper, run_byed


class ExitDirTests(ByedTestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="byed-exitdir-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def follower(self, name="side", extra=()):
        b = self.start(["--exit-dir", self.dir, "--name", name, *extra, "--",
                        helper("sigrecorder")])
        child = b.child_pid()
        return b, child

    def assert_stopped_by(self, b, entry):
        self.assertEqual(b.read_line("signal "), "signal TERM")
        code, _, err = b.wait()
        self.assertEqual(code, 0, err)
        self.assertIn(f"exit dir entry appeared: stopping entry={entry}", err)
        return err

    def test_preexisting_marker_means_the_child_never_starts(self):
        open(self.path("main.exit"), "w").close()
        flag = self.path(".started")
        code, _, err = run_byed(["--exit-dir", self.dir, "--", "/bin/sh", "-c",
                                 f"touch {flag}"])
        self.assertEqual(code, 0, err)
        self.assertIn("entry=main.exit", err)
        self.assertIn("not starting", err)
        self.assertFalse(os.path.exists(flag))

    def test_marker_created_later_stops_child_exit_0(self):
        b, _ = self.follower()
        open(self.path("main.exit"), "w").close()  # the Go leader's empty file
        self.assert_stopped_by(b, "main.exit")
        self.assertFalse(os.path.exists(self.path("side.exit")),
                         "a member stopped by the group leaves no marker")

    def test_moved_in_entry_stops_child(self):
        b, _ = self.follower()
        outside = tempfile.NamedTemporaryFile(delete=False)
        outside.close()
        os.rename(outside.name, self.path("moved-in"))
        self.assert_stopped_by(b, "moved-in")

    def test_mkdir_stops_child(self):
        b, _ = self.follower()
        os.mkdir(self.path("done"))
        self.assert_stopped_by(b, "done")

    def test_own_leftover_marker_and_temp_names_are_ignored(self):
        # side.exit from an earlier run of this member (a container restarted
        # in its pod) is there at start: ignored, and said so.
        open(self.path("side.exit"), "w").close()
        b, _ = self.follower(name="side")
        b.read_line("from an earlier run of this member", stream="err")
        open(self.path(".main.exit.tmp.1"), "w").close()
        # Still running and still forwarding: HUP reaches the child, TERM
        # was never sent before it.
        b.signal(signal.SIGHUP)
        self.assertEqual(b.read_line("signal "), "signal HUP")
        open(self.path("main.exit"), "w").close()
        self.assert_stopped_by(b, "main.exit")

    def test_own_name_appearing_while_running_is_a_peers_marker(self):
        # Two members running the same program share the default name: the
        # leader's sh.exit must stop the follower, not be taken as its own.
        b, _ = self.follower(name="sh")
        open(self.path("sh.exit"), "w").close()
        self.assert_stopped_by(b, "sh.exit")

    def test_child_code_passes_through_when_it_chooses_one(self):
        b = self.start(["--exit-dir", self.dir, "--", "/bin/sh", "-c",
                        "trap 'exit 5' TERM; echo ready; while :; do sleep 0.05; done"])
        b.read_line("ready")
        open(self.path("main.exit"), "w").close()
        code, _, err = b.wait()
        self.assertEqual(code, 5, err)

    def test_leader_marker_for_normal_exit(self):
        code, _, err = run_byed(["--exit-dir", self.dir, "--name", "main",
                                 "--", "/bin/sh", "-c", "exit 3"])
        self.assertEqual(code, 3, err)
        with open(self.path("main.exit")) as f:
            m = json.load(f)
        self.assertEqual(m["name"], "main")
        self.assertEqual(m["exit_code"], 3)
        self.assertIsNone(m["signal"])
        self.assertGreater(m["pid"], 0)
        self.assertEqual(m["host"], os.uname().nodename)
        self.assertRegex(m["started_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertRegex(m["exited_at"], r"Z$")
        self.assertLessEqual(m["started_at"], m["exited_at"])
        self.assertEqual(os.stat(self.path("main.exit")).st_mode & 0o777, 0o644)

    def test_leader_marker_for_signal_death(self):
        code, _, err = run_byed(["--exit-dir", self.dir, "--exit-role", "leader",
                                 "--name", "main", "--", "/bin/sh", "-c",
                                 "kill -9 $$"])
        self.assertEqual(code, 137, err)
        with open(self.path("main.exit")) as f:
            m = json.load(f)
        self.assertIsNone(m["exit_code"])
        self.assertEqual(m["signal"], 9)

    def test_follower_only_leaves_no_marker_leader_only_ignores_entries(self):
        code, _, _ = run_byed(["--exit-dir", self.dir, "--exit-role", "follower",
                               "--name", "f", "--", "true"])
        self.assertEqual(code, 0)
        self.assertEqual(os.listdir(self.dir), [])
        open(self.path("x"), "w").close()
        code, _, err = run_byed(["--exit-dir", self.dir, "--exit-role", "leader",
                                 "--name", "l", "--", "/bin/sh", "-c", "exit 4"])
        self.assertEqual(code, 4, err)  # it ran despite the entry
        self.assertTrue(os.path.exists(self.path("l.exit")))

    def test_two_followers_and_a_leader(self):
        f1, c1 = self.follower(name="logs")
        f2, c2 = self.follower(name="metrics")
        code, _, err = run_byed(["--exit-dir", self.dir, "--name", "main",
                                 "--", "true"])
        self.assertEqual(code, 0, err)
        self.assert_stopped_by(f1, "main.exit")
        self.assert_stopped_by(f2, "main.exit")
        self.assertFalse(alive(c1) or alive(c2))
        self.assertEqual(sorted(os.listdir(self.dir)), ["main.exit"])

    def test_marker_is_never_read_partial_200_times(self):
        w = subprocess.Popen([helper("markerwatch"), self.dir, "200"],
                             stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (w.poll() is None and w.kill(), w.communicate()))
        self.assertEqual(w.stdout.readline().strip(), "ready")
        for i in range(200):
            code, _, err = run_byed(["-q", "--exit-dir", self.dir,
                                     "--exit-role", "leader", "--name", f"m{i}",
                                     "--", "true"])
            self.assertEqual(code, 0, err)
        # Every marker is written before its byed exits: the fence tells
        # the watcher there is nothing more to wait for.
        open(self.path("fence"), "w").close()
        out, _ = w.communicate(timeout=600)
        self.assertEqual(out.strip(), "complete=200 partial=0 other=0")
        self.assertEqual(w.returncode, 0)

    def test_partial_reads_would_be_caught(self):
        # The checker above is not blind: a file that appears before its
        # content is written (a plain create-then-write) is reported.
        w = subprocess.Popen([helper("markerwatch"), self.dir, "1"],
                             stdout=subprocess.PIPE, text=True)
        self.assertEqual(w.stdout.readline().strip(), "ready")
        with open(self.path("naive.exit"), "w") as f:
            f.flush()
            out, _ = w.communicate(timeout=60)
            f.write("{}\n")
        self.assertEqual(out.strip(), "complete=0 partial=1 other=0")
        self.assertEqual(w.returncode, 1)

    @unittest.skipUnless(shutil.which("inotifywait"), "needs inotify-tools")
    def test_marker_is_one_create_or_moved_in_event_for_inotifywait(self):
        w = subprocess.Popen(["inotifywait", "-m", "-e", "create,moved_to",
                              "--format", "%e %f", self.dir],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        self.addCleanup(lambda: (w.poll() is None and w.kill(), w.communicate()))
        # inotifywait says "Watches established." on stderr once watching.
        while "Watches established" not in w.stderr.readline():
            pass
        code, _, _ = run_byed(["-q", "--exit-dir", self.dir, "--name", "main",
                               "--", "true"])
        self.assertEqual(code, 0)
        open(self.path("z-end"), "w").close()  # a fence: everything before it
        lines = []
        while True:
            line = w.stdout.readline().strip()
            if line.endswith("z-end"):
                break
            lines.append(line)
        self.assertEqual(len(lines), 1, lines)
        self.assertIn(lines[0], ("CREATE main.exit", "MOVED_TO main.exit"))

    def test_missing_exit_dir_is_a_usage_error(self):
        code, _, err = run_byed(["--exit-dir", self.path("nope"), "--", "true"])
        self.assertEqual(code, 2)
        self.assertIn("no such directory", err)
        code, _, err = run_byed(["--", "true"],
                                env={"EXIT_DIR": self.path("nope")})
        self.assertEqual(code, 2)

    def test_directory_removed_while_running_keeps_child(self):
        b, child = self.follower()
        os.rmdir(self.dir)
        b.read_line("no longer watched", stream="err")
        self.assertTrue(alive(child))
        b.signal(signal.SIGHUP)
        self.assertEqual(b.read_line("signal "), "signal HUP")
        b.signal(signal.SIGTERM)
        code, _, _ = b.wait()
        self.assertEqual(code, 128 + signal.SIGTERM)

    def test_exit_dir_from_environment(self):
        b = self.start(["--", helper("sigrecorder")], env={"EXIT_DIR": self.dir})
        b.child_pid()
        open(self.path("main.exit"), "w").close()
        self.assert_stopped_by(b, "main.exit")


if __name__ == "__main__":
    unittest.main()
