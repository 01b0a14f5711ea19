"""Workers (--workers N): N copies of an unmodified single-threaded server
(python's http.server, servers/warm_http.py) on one held socket. Each is a
process group of its own with LISTEN_PID its own pid and BYED_WORKER its
index; a dead one is replaced alone while the others serve; upgrades, all
at once or K at a time, and resizing at run time (byed ctl workers) lose no
request; a release that fails rolls back; stop leaves nothing behind.

The state is read from `byed ctl --json status` (each generation's
"workers": index, pid, state, restarts); which process answers a request
from the answer itself ("pid=P worker=I workers=N listen_pid=L")."""

import json
import os
import re
import signal
import threading
import time
import unittest

from byedtest import (ClientLoop, GenerationsTestCase, alive, ctl,
                      held_address, held_answers, helper, wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
WARM = [PYTHON, os.path.join(HERE, "servers", "warm_http.py")]
# Deadlines for whole upgrades and restarts of several python processes on
# a loaded 2-core machine.
LONG = 120


class WorkersTestCase(GenerationsTestCase):
    def setUp(self):
        super().setUp()
        self.control = os.path.join(self.tmp, "ctl.sock")
        self.leftovers = os.path.join(self.tmp, "leftovers")
        os.mkdir(self.leftovers)

    def start_workers(self, n, extra=(), mode="ok 0", env=None):
        """byed --workers n in front of warm_http.py; returns (byed, port,
        {index: pid} of the ready workers) once all n are ready."""
        self.set_mode(mode)
        e = {"WARM_MODE_FILE": self.mode_file, "WARM_WORKER_INFO": "1"}
        e.update(env or {})
        b = self.start(["-l", "127.0.0.1:0", "--control", self.control,
                        "--workers", str(n), *extra, "--", *WARM], env=e)
        port = int(held_address(b).rsplit(":", 1)[1])
        return b, port, self.wait_ready(n)

    def status(self):
        """`byed ctl --json status`, parsed; None while it cannot answer."""
        code, out, _ = ctl("--control", self.control, "--json", "status")
        return json.loads(out) if code == 0 else None

    @staticmethod
    def serving(s):
        """The serving generation of a status."""
        current = [g for g in s["generations"] if g.get("current")]
        return current[0] if current else None

    def ready_workers(self, s=None):
        """{index: pid} of the serving generation's ready workers."""
        s = s or self.status()
        g = self.serving(s) if s else None
        if g is None:
            return {}
        return {w["index"]: w["pid"] for w in g["workers"]
                if w["state"] == "ready"}

    def wait_ready(self, n, timeout=LONG, gen=None):
        """Waits until the serving generation (gen, if given) has exactly
        the workers 0..n-1 ready; returns {index: pid}."""
        def done():
            s = self.status()
            g = self.serving(s) if s else None
            if g is None or (gen is not None and g["gen"] != gen):
                return None
            ready = self.ready_workers(s)
            return ready if set(ready) == set(range(n)) else None
        return wait_until(done, timeout=timeout, interval=0.02,
                          what=f"{n} ready workers (gen {gen or 'any'})")

    def worker(self, index, s=None):
        """The serving generation's entry for worker `index`."""
        s = s or self.status()
        return next(w for w in self.serving(s)["workers"]
                    if w["index"] == index)

    def answers(self, port, n):
        """n requests held at once: the answer of each of n workers."""
        return held_answers(port, n, self.tmp, timeout=LONG)

    def environ(self, pid):
        with open(f"/proc/{pid}/environ", "rb") as f:
            return dict(kv.decode().split("=", 1)
                        for kv in f.read().split(b"\0") if b"=" in kv)

    def wait_gone(self, pids, what):
        for pid in pids:
            wait_until(lambda: not alive(pid), timeout=LONG,
                       what=f"{what} ({pid}) to exit")

    def warming_pids(self, b):
        """Pids of every warm_http.py byed has started so far (their
        "warming pid=P" lines on byed's stdout, which no test reads)."""
        while b._pump(0):
            pass
        return {int(p) for p in re.findall(rb"warming pid=(\d+)", b._out)}

    def stop_byed(self, b):
        b.signal(signal.SIGTERM)
        code, _, err = b.wait(timeout=LONG)
        self.assertEqual(code, 0, err[-3000:])


class WorkerTests(WorkersTestCase):
    def test_four_workers_each_its_own_pid_index_and_process_group(self):
        b, port, ready = self.start_workers(4)
        s = self.status()
        self.assertEqual(s["workers"], 4)
        g = self.serving(s)
        self.assertEqual(sorted(w["index"] for w in g["workers"]),
                         [0, 1, 2, 3])
        self.assertEqual([w["restarts"] for w in g["workers"]], [0] * 4)
        self.assertEqual(len(set(ready.values())), 4)
        self.assertEqual(g["pid"], ready[0])
        for pid in ready.values():
            self.assertEqual(os.getpgid(pid), pid)  # a group of its own
        # Four requests at once, each held by the worker that took it: four
        # workers answer, each with its index and its own LISTEN_PID.
        got = {int(a["pid"]): a for a in self.answers(port, 4)}
        self.assertEqual(set(got), set(ready.values()))
        for index, pid in ready.items():
            self.assertEqual(got[pid]["worker"], str(index))
            self.assertEqual(got[pid]["workers"], "4")
            self.assertEqual(got[pid]["listen_pid"], str(pid))
        self.stop_byed(b)

    def test_a_dead_worker_is_replaced_alone_while_the_others_serve(self):
        gate = os.path.join(self.tmp, "gate")
        b, port, ready = self.start_workers(4, ["--restart", "on-failure"])
        # The replacement warms up until the test opens the gate: until
        # then only the other three can answer.
        self.set_mode(f"gate {gate}")
        # Killed while no request is in hand (a KILL loses the request a
        # worker is serving; the ones waiting on the socket are not lost).
        os.kill(ready[2], signal.SIGKILL)
        loop = ClientLoop(port)
        self.addCleanup(loop.stop)
        line = b.read_line("restarting", stream="err", timeout=LONG)
        self.assertIn("worker=2", line)

        def replacement():
            w = self.worker(2)
            return w["pid"] if w["pid"] not in (None, 0, ready[2]) and \
                alive(w["pid"]) else None
        new = wait_until(replacement, timeout=LONG, interval=0.02,
                         what="a new worker 2")
        answered = loop.ok
        wait_until(lambda: loop.ok >= answered + 50, timeout=LONG,
                   what="answers while worker 2 warms up")
        s = self.status()
        self.assertIn(self.worker(2, s)["state"], ("starting", "restarting"))
        self.assertEqual({i: p for i, p in self.ready_workers(s).items()},
                         {i: ready[i] for i in (0, 1, 3)})
        self.assertEqual(loop.failed, 0, loop.errors[:5])
        open(gate, "w").close()
        now = self.wait_ready(4)
        self.assertEqual(now, {**ready, 2: new})
        self.assertEqual(self.worker(2)["restarts"], 1)
        env = self.environ(new)
        self.assertEqual((env["BYED_WORKER"], env["BYED_WORKERS"],
                          env["LISTEN_PID"]), ("2", "4", str(new)))
        self.assertEqual(os.getpgid(new), new)
        got = {int(a["pid"]) for a in self.answers(port, 4)}
        self.assertEqual(got, set(now.values()))
        ok, failed = loop.stop()
        self.assertEqual(failed, 0, loop.errors[:5])
        self.assertGreater(ok, 0)
        self.stop_byed(b)

    def test_restart_no_exits_after_the_last_worker_with_its_status(self):
        b, port, ready = self.start_workers(2, ["--restart", "no"])
        os.kill(ready[0], signal.SIGKILL)  # 128+9, not what byed ends with
        wait_until(lambda: self.worker(0)["state"] == "exited",
                   timeout=LONG, interval=0.02,
                   what="worker 0 to be seen exited")
        self.assertIsNone(b.proc.poll())
        # Not replaced; the other one serves alone.
        self.assertEqual(self.ready_workers(), {1: ready[1]})
        self.assertEqual(int(self.answers(port, 1)[0]["pid"]), ready[1])
        os.kill(ready[1], signal.SIGUSR2)  # python's default: dies of it
        code, _, err = b.wait(timeout=LONG)
        self.assertEqual(code, 128 + signal.SIGUSR2, err[-3000:])

    def test_a_forwarded_signal_reaches_every_worker(self):
        b = self.start(["--control", self.control, "--workers", "3", "--",
                        helper("sigrecorder"), "--exit-after", "1"])
        started = {int(b.read_line("ready pid=").split("=")[1])
                   for _ in range(3)}  # each has its handlers in place
        self.assertEqual(set(self.wait_ready(3).values()), started)
        b.signal(signal.SIGHUP)
        for _ in range(3):
            self.assertEqual(b.read_line("signal "), "signal HUP")
        code, out, err = b.wait(timeout=LONG)
        self.assertEqual(code, 0, err[-3000:])
        self.assertNotIn("signal ", out)  # once each, no more

    def test_stop_leaves_no_workers_and_none_of_their_leftovers(self):
        b, port, ready = self.start_workers(
            4, env={"WARM_LEFTOVER_DIR": self.leftovers})

        def leftovers():
            found = {}
            for f in os.listdir(self.leftovers):
                if f.startswith("leftover.") and not f.endswith(".tmp"):
                    with open(os.path.join(self.leftovers, f)) as fh:
                        found[int(f.split(".")[1])] = int(fh.read())
            return found if len(found) == 4 else None
        left = wait_until(leftovers, timeout=LONG, what="4 leftovers")
        self.assertEqual(set(left), set(ready.values()))
        for worker, child in left.items():
            self.assertTrue(alive(child))
            self.assertEqual(os.getpgid(child), worker)
        self.stop_byed(b)
        self.wait_gone(ready.values(), "a worker")
        self.wait_gone(left.values(), "a worker's leftover")

    def test_workers_auto_is_the_cpus_byed_may_run_on(self):
        self.set_mode("ok 0")
        b = self.start(["-l", "127.0.0.1:0", "--control", self.control,
                        "--", *WARM],
                       env={"WARM_MODE_FILE": self.mode_file,
                            "WARM_WORKER_INFO": "1", "BYED_WORKERS": "auto"})
        held_address(b)
        n = len(os.sched_getaffinity(0))  # byed inherits the test's set
        self.wait_ready(n)
        self.assertEqual(self.status()["workers"], n)
        self.stop_byed(b)

    def test_bad_workers_option_is_a_usage_error(self):
        from byedtest import run_byed
        code, _, err = run_byed(["--workers", "2", "--upgrade-batch", "1",
                                 "--", "true"])
        self.assertEqual(code, 0, err)  # the options exist
        for args in (["--workers", "0"], ["--workers", "many"],
                     ["--workers", "-1"], ["--upgrade-batch", "x"]):
            with self.subTest(args=args):
                code, _, err = run_byed([*args, "--", "true"])
                self.assertEqual(code, 2, err)
                self.assertEqual(len(err.strip().splitlines()), 1, err)


class WorkerUpgradeTests(WorkersTestCase):
    def watch_peak(self):
        """Samples the status until stopped: the most workers starting or
        ready at once, over all generations. Returns (stop, result)."""
        peak = [0]
        done = threading.Event()

        def run():
            while not done.is_set():
                s = self.status()
                if s:
                    peak[0] = max(peak[0], sum(
                        w["state"] in ("starting", "ready")
                        for g in s["generations"] for w in g["workers"]))
                time.sleep(0.01)  # pacing: a sample, not a busy loop

        t = threading.Thread(target=run, daemon=True)
        t.start()

        def stop():
            done.set()
            t.join(LONG)
            return peak[0]
        return stop

    def check_upgrade(self, extra, most_at_once):
        """Under a client loop: an upgrade to a release that warms up
        replaces all 4 workers, exits 0, and fails no request; at most
        most_at_once workers were starting or ready at once."""
        b, port, old = self.start_workers(4, extra)
        loop = ClientLoop(port)
        self.addCleanup(loop.stop)
        peak = self.watch_peak()
        self.set_mode("ok 0.5")
        code, out, err = ctl("--control", self.control, "upgrade",
                             timeout=LONG)
        self.assertEqual(code, 0, out + err)
        most = peak()
        new = self.wait_ready(4, gen=2)
        self.assertFalse(set(new.values()) & set(old.values()))
        self.assertEqual(self.serving(self.status())["pid"], new[0])
        # A drained worker may still answer a request it took before its
        # TERM: ask once all are gone.
        self.wait_gone(old.values(), "an old worker")
        got = {int(a["pid"]): a for a in self.answers(port, 4)}
        self.assertEqual(set(got), set(new.values()))
        for index, pid in new.items():
            self.assertEqual(got[pid]["worker"], str(index))
        ok, failed = loop.stop()
        self.assertEqual(failed, 0, loop.errors[:5])
        self.assertGreater(ok, 0)
        self.assertLessEqual(most, most_at_once)
        self.stop_byed(b)

    def test_upgrade_all_at_once_fails_no_request(self):
        self.check_upgrade([], 8)

    def test_upgrade_one_at_a_time_fails_no_request(self):
        # K new ready, then K old drained: never 2N at once.
        self.check_upgrade(["--upgrade-batch", "1"], 5)

    def check_rollback(self, extra, started):
        """Under a client loop: a release whose workers fail during their
        warm-up fails the upgrade (exit 1, 0 of 4 upgraded) after
        `started` new workers; the old workers serve on, byed runs."""
        b, port, old = self.start_workers(4, extra)
        loop = ClientLoop(port)
        self.addCleanup(loop.stop)
        # A warm-up long enough for all workers started at once to have
        # said "warming" before the first fails.
        self.set_mode("fail 2")
        code, out, err = ctl("--control", self.control, "upgrade",
                             timeout=LONG)
        self.assertEqual(code, 1, out + err)
        self.assertIn("exit code 3", out + err)
        self.assertIn("0/4 workers upgraded", out + err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        tried = self.warming_pids(b) - set(old.values())
        self.assertEqual(len(tried), started, tried)
        self.wait_gone(tried, "a failed new worker")
        s = self.status()
        self.assertEqual(self.serving(s)["gen"], 1)
        self.assertEqual(self.ready_workers(s), old)
        got = {int(a["pid"]) for a in self.answers(port, 4)}
        self.assertEqual(got, set(old.values()))
        ok, failed = loop.stop()
        self.assertEqual(failed, 0, loop.errors[:5])
        self.assertGreater(ok, 0)
        self.assertIsNone(b.proc.poll())
        # Fixed, the next upgrade goes through.
        self.set_mode("ok 0")
        code, out, err = ctl("--control", self.control, "upgrade",
                             timeout=LONG)
        self.assertEqual(code, 0, out + err)
        self.stop_byed(b)

    def test_bad_release_rolls_back_all_at_once(self):
        self.check_rollback([], started=4)

    def test_bad_release_rolls_back_one_at_a_time(self):
        self.check_rollback(["--upgrade-batch", "1"], started=1)

    def test_failure_in_a_later_batch_says_how_far_it_came(self):
        # Only the new worker 2 fails: batches 0 and 1 went through.
        b, port, old = self.start_workers(4, ["--upgrade-batch", "1"])
        loop = ClientLoop(port)
        self.addCleanup(loop.stop)
        self.set_mode("fail 0.5 2")
        code, out, err = ctl("--control", self.control, "upgrade",
                             timeout=LONG)
        self.assertEqual(code, 1, out + err)
        self.assertIn("2/4 workers upgraded", out + err)
        # The old workers not reached yet serve on.
        self.assertTrue(alive(old[2]) and alive(old[3]))
        ok, failed = loop.stop()
        self.assertEqual(failed, 0, loop.errors[:5])
        self.assertGreater(ok, 0)
        self.assertIsNone(b.proc.poll())
        self.stop_byed(b)


class WorkerResizeTests(WorkersTestCase):
    def resize(self, n):
        code, out, err = ctl("--control", self.control, "--json", "workers",
                             str(n), timeout=LONG)
        self.assertEqual(code, 0, out + err)
        reply = json.loads(out)
        self.assertEqual((reply["ok"], reply["workers"]), (True, n))

    def test_ctl_workers_2_then_6_fails_no_request(self):
        b, port, four = self.start_workers(4)
        loop = ClientLoop(port)
        self.addCleanup(loop.stop)
        self.resize(2)
        # Carried out when ctl returns: 2 ready, the others drained.
        s = self.status()
        self.assertEqual(s["workers"], 2)
        self.assertEqual(self.ready_workers(s), {0: four[0], 1: four[1]})
        self.wait_gone([four[2], four[3]], "a removed worker")
        self.resize(6)
        s = self.status()
        self.assertEqual(s["workers"], 6)
        six = self.ready_workers(s)
        self.assertEqual(set(six), set(range(6)))
        self.assertEqual((six[0], six[1]), (four[0], four[1]))
        self.assertEqual(self.serving(s)["gen"], 1)
        for i in range(2, 6):
            self.assertEqual(self.environ(six[i])["BYED_WORKER"], str(i))
        got = {int(a["pid"]) for a in self.answers(port, 6)}
        self.assertEqual(got, set(six.values()))
        ok, failed = loop.stop()
        self.assertEqual(failed, 0, loop.errors[:5])
        self.assertGreater(ok, 0)
        self.stop_byed(b)

    def test_ctl_workers_bad_n(self):
        b, port, two = self.start_workers(2)
        for arg, want in (("0", 2), ("many", 2), ("-3", 2)):
            with self.subTest(n=arg):
                code, out, err = ctl("--control", self.control, "workers",
                                     arg)
                self.assertEqual(code, want, out + err)
                self.assertEqual(len(err.strip().splitlines()), 1, err)
        s = self.status()
        self.assertEqual(s["workers"], 2)
        self.assertEqual(self.ready_workers(s), two)
        self.stop_byed(b)


if __name__ == "__main__":
    unittest.main()
