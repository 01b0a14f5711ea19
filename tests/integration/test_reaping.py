"""Zombies: byed reaps orphans as PID 1 and as a subreaper."""

import subprocess
import unittest

from byedtest import BYED, ByedTestCase, helper, run_byed


class ReapingTests(ByedTestCase):
    def test_subreaper_reaps_100_orphans(self):
        code, out, err = run_byed(["-q", "--", helper("orphans"), "100"],
                                  timeout=20)
        self.assertIn("orphans=100 reparented=100 unreaped=0", out, err)
        self.assertEqual(code, 0)

    def test_without_subreaper_orphans_go_elsewhere(self):
        # The helper's check can fail: with --no-subreaper the orphans are
        # not re-parented to byed, and the helper says so.
        code, out, _ = run_byed(["-q", "--no-subreaper", "--",
                                 helper("orphans"), "10"], timeout=20)
        self.assertIn("reparented=0", out)
        self.assertEqual(code, 1)

    def test_pid1_reaps_100_orphans_and_returns_child_status(self):
        probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc",
                                "true"], capture_output=True)
        if probe.returncode != 0:  # e.g. an unprivileged container build
            self.skipTest("cannot create a PID namespace here: "
                          + probe.stderr.decode().strip())
        # The helper runs under a shell, so the orphans' new parent is PID 1
        # (byed), not the helper's parent: say so with its second argument.
        p = subprocess.run(
            ["unshare", "--pid", "--fork", "--mount-proc", BYED, "-v", "--",
             "/bin/sh", "-c",
             f"{helper('orphans')} 100 1; echo helper=$?; exit 7"],
            capture_output=True, timeout=30)
        out = p.stdout.decode()
        err = p.stderr.decode()
        self.assertIn("orphans=100 reparented=100 unreaped=0", out, err)
        self.assertIn("helper=0", out)
        self.assertEqual(p.returncode, 7, err)
        self.assertIn("reaped orphan", err)


if __name__ == "__main__":
    unittest.main()
