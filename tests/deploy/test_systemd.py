"""byed under a real systemd: the shipped systemd/myapp.service and
myapp.socket, unmodified, in a Debian 12 booted with systemd-nspawn, in
front of unmodified gunicorn.

Only paths are supplied: /usr/bin/byed is the built binary,
/usr/local/bin/myapp starts gunicorn on the app in /opt/myapp. Everything
is driven from outside with nsenter: systemctl, and an HTTP client loop
inside the container's private network.
"""

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from deploylib import (BYED, ROOT, SYSTEMD_PACKAGES, require_root_and,
                       rootfs, run, wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))

MYAPP = """#!/bin/sh
# The test's program: unmodified gunicorn on the sockets byed passes.
# /run/myapp-fail makes a new generation fail (a broken release).
[ -e /run/myapp-fail ] && { echo "myapp: broken release" >&2; exit 1; }
exec gunicorn --workers 1 --graceful-timeout 5 --chdir /opt/myapp wsgi_app:app
"""

WATCHDOG_UNIT = """[Service]
Type=notify
NotifyAccess=main
WatchdogSec=2
SuccessExitStatus=143
ExecStart=/usr/bin/byed --ready message -- /usr/bin/python3 /opt/myapp/wdping.py
"""

# Pings systemd's watchdog through byed, counting the pings in a file.
WDPING = """import os, socket, time
addr = os.environ["NOTIFY_SOCKET"]
usec = int(os.environ["WATCHDOG_USEC"])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
target = "\\0" + addr[1:] if addr.startswith("@") else addr
s.sendto(b"READY=1", target)
n = 0
while True:
    s.sendto(b"WATCHDOG=1", target)
    n += 1
    with open("/run/wd.count.tmp", "w") as f:
        f.write(str(n))
    os.rename("/run/wd.count.tmp", "/run/wd.count")
    time.sleep(usec / 4 / 1e6)
"""


class SystemdTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_root_and("systemd-nspawn", "debootstrap", "nsenter")
        tree = rootfs("debian12-systemd", SYSTEMD_PACKAGES)
        cls.tmp = tempfile.mkdtemp(prefix="byed-nspawn-")
        app = os.path.join(cls.tmp, "myapp")
        os.mkdir(app)
        shutil.copy(os.path.join(ROOT, "tests", "integration", "servers",
                                 "wsgi_app.py"), app)
        shutil.copy(os.path.join(HERE, "client.py"), app)
        with open(os.path.join(app, "wdping.py"), "w") as f:
            f.write(WDPING)
        script = os.path.join(cls.tmp, "myapp.sh")
        with open(script, "w") as f:
            f.write(MYAPP)
        os.chmod(script, 0o755)
        unit = os.path.join(ROOT, "systemd")
        binds = [(BYED, "/usr/bin/byed"), (script, "/usr/local/bin/myapp"),
                 (app, "/opt/myapp"),
                 (os.path.join(unit, "myapp.service"),
                  "/etc/systemd/system/myapp.service"),
                 (os.path.join(unit, "myapp.socket"),
                  "/etc/systemd/system/myapp.socket")]
        cmd = ["systemd-nspawn", "-q", "-D", tree, "--volatile=overlay", "-b",
               "--register=no", "--keep-unit", "--private-network",
               "--console=read-only"]
        cmd += [f"--bind-ro={src}:{dst}" for src, dst in binds]
        cls.console = open(os.path.join(cls.tmp, "console.log"), "w")
        cls.nspawn = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                      stdout=cls.console,
                                      stderr=subprocess.STDOUT)

        def leader():
            if cls.nspawn.poll() is not None:
                raise AssertionError("systemd-nspawn exited: " +
                                     open(cls.console.name).read()[-2000:])
            p = run(["pgrep", "-P", str(cls.nspawn.pid)], check=False)
            return p.stdout.split()[0] if p.returncode == 0 else None

        cls.leader = wait_until(leader, what="the container's systemd")

        def booted():
            state = cls.sh("systemctl is-system-running --wait",
                           check=False).stdout.strip()
            # "offline": entered before the container's systemd runs.
            return None if state in ("", "offline") else state
        state = wait_until(booted, timeout=120, what="boot")
        if state not in ("running", "degraded"):
            raise AssertionError("boot ended " + state)
        cls.sh("systemctl daemon-reload && systemctl start myapp.socket")

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "nspawn", None) is not None:
            cls.nspawn.terminate()  # nspawn powers the container off
            try:
                cls.nspawn.wait(timeout=60)
            except subprocess.TimeoutExpired:
                cls.nspawn.kill()
                cls.nspawn.wait()
            cls.console.close()
        shutil.rmtree(getattr(cls, "tmp", ""), ignore_errors=True)

    @classmethod
    def sh(cls, command, check=True, timeout=120):
        return run(["nsenter", "-t", cls.leader, "-a", "sh", "-c", command],
                   check=check, timeout=timeout)

    def prop(self, unit, name):
        return self.sh(f"systemctl show -p {name} --value {unit}").stdout.strip()

    def get(self):
        """One request inside the container: the serving worker's pid."""
        out = self.sh("curl -sS --max-time 30 http://127.0.0.1:8080/").stdout
        self.assertTrue(out.startswith("pid="), out)
        return int(out.split("=")[1])

    def generation(self, worker):
        """gunicorn's arbiter: the worker's parent, byed's child."""
        return int(self.sh(f"cut -d' ' -f4 /proc/{worker}/stat").stdout)

    def stop_service(self):
        self.sh("systemctl stop myapp.service; rm -f /run/myapp-fail")

    def test_1_socket_activation_starts_byed_with_the_right_listen_pid(self):
        self.assertEqual(self.prop("myapp.service", "ActiveState"), "inactive")
        worker = self.get()  # the first request starts the service
        # The request waited in the socket's backlog and was answered by
        # gunicorn's worker; byed tells systemd READY=1 once it has seen the
        # workers wait on the socket, a moment later.
        wait_until(lambda: self.prop("myapp.service", "ActiveState")
                   == "active", what="myapp.service to become active")
        main = self.prop("myapp.service", "MainPID")
        self.assertEqual(self.sh(f"cat /proc/{main}/comm").stdout.strip(),
                         "byed")
        arbiter = self.generation(worker)
        env = self.sh(f"tr '\\0' '\\n' < /proc/{arbiter}/environ").stdout
        self.assertIn(f"LISTEN_PID={arbiter}\n", env)
        self.assertIn("LISTEN_FDNAMES=web\n", env)
        self.stop_service()

    def test_2_start_returns_once_gunicorn_serves_and_said_ready(self):
        self.sh("systemctl start myapp.service")
        main = self.prop("myapp.service", "MainPID")
        # systemctl returned: byed had told systemd READY=1, and with the
        # default readiness (auto) it did so once gunicorn's workers waited
        # on the held socket and gunicorn's own READY=1 had come, not on a
        # timer. byed's READY=1 came last, with its own STATUS= (gunicorn's
        # "Gunicorn arbiter booted", relayed before, is replaced).
        status = self.prop("myapp.service", "StatusText")
        arbiter = self.generation(self.get())
        self.assertEqual(status, f"gen 1 ready (pid {arbiter})")
        self.assertEqual(self.prop("myapp.service", "ActiveState"), "active")
        line = wait_until(lambda: self.sh(
            "journalctl -o cat -u myapp.service | grep 'gen=1 ready'",
            check=False).stdout, what="byed's ready line in the journal")
        self.assertRegex(line, r'via="accepting [^"]*, notify"')
        self.assertNotEqual(main, "0")
        self.stop_service()

    def test_3_reload_under_load_loses_nothing(self):
        self.sh("systemctl start myapp.service")
        before = self.generation(self.get())
        self.sh("rm -f /run/client.*")
        client = subprocess.Popen(
            ["nsenter", "-t", self.leader, "-a", "python3",
             "/opt/myapp/client.py", "http://127.0.0.1:8080/",
             "/run/client.stop", "/run/client.out"])
        wait_until(lambda: self.sh("cat /run/client.count 2>/dev/null",
                                   check=False).stdout.strip() not in ("", "0"),
                   what="the client's first answers")
        states = []
        done = threading.Event()

        def watch():
            while not done.is_set():
                states.append(self.prop("myapp.service", "ActiveState"))
        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            self.sh("systemctl reload myapp.service")
        finally:
            done.set()
            watcher.join()
        after = self.generation(self.get())
        self.sh("touch /run/client.stop")
        client.wait(timeout=60)
        out = self.sh("cat /run/client.out").stdout.split()
        self.assertEqual(out[0], "failed=0", out)
        self.assertNotEqual(before, after)
        self.assertIn("reloading", states)
        self.assertEqual(self.prop("myapp.service", "ActiveState"), "active")
        self.assertRegex(self.prop("myapp.service", "StatusText"), r"^gen 2\b")
        self.stop_service()

    def test_4_a_failed_reload_fails_and_the_old_one_serves(self):
        self.sh("systemctl start myapp.service")
        before = self.generation(self.get())
        self.sh("touch /run/myapp-fail")
        p = self.sh("systemctl reload myapp.service", check=False)
        self.assertNotEqual(p.returncode, 0, "systemctl reload succeeded")
        self.assertEqual(self.generation(self.get()), before)
        self.assertEqual(self.prop("myapp.service", "ActiveState"), "active")
        self.stop_service()

    def test_5_stop_leaves_nothing_and_ends_inactive(self):
        self.sh("systemctl start myapp.service")
        self.get()
        self.sh("systemctl stop myapp.service")
        self.assertEqual(self.prop("myapp.service", "ActiveState"), "inactive")
        self.assertEqual(self.prop("myapp.service", "Result"), "success")
        left = self.sh("grep -lE '^Name:\\s+(byed|gunicorn)' "
                       "/proc/[0-9]*/status", check=False)
        self.assertEqual(left.stdout, "")

    def test_6_watchdog_unit_stays_up_while_the_program_pings(self):
        self.sh("cat > /etc/systemd/system/wd.service <<'EOF'\n" +
                WATCHDOG_UNIT + "EOF\nsystemctl daemon-reload && "
                "systemctl start wd.service")
        main = self.prop("wd.service", "MainPID")
        # 16 pings at WatchdogSec/4 apart: 4 watchdog periods have passed.
        wait_until(lambda: int(self.sh("cat /run/wd.count 2>/dev/null || "
                                       "echo 0").stdout) >= 16,
                   what="16 watchdog pings")
        self.assertEqual(self.prop("wd.service", "ActiveState"), "active")
        self.assertEqual(self.prop("wd.service", "MainPID"), main)
        self.assertEqual(self.prop("wd.service", "NRestarts"), "0")
        self.sh("systemctl stop wd.service")
        self.assertEqual(self.prop("wd.service", "Result"), "success")

    def test_7_log_child_auto_writes_native_journal_entries(self):
        # Under systemd stdout is the journal's stream (JOURNAL_STREAM):
        # --log-child auto sends each line of the program as a native entry
        # with byed's fields, so `journalctl BYED_GENERATION=1` finds it.
        self.sh("systemd-run --unit byedlog --wait -p StandardOutput=journal "
                "/usr/bin/byed --log-child auto -- /bin/sh -c "
                "'echo hello-journal; echo oops-journal >&2'")

        def entries():
            out = self.sh("journalctl -o json -u byedlog.service "
                          "BYED_GENERATION=1", check=False).stdout
            found = [json.loads(l) for l in out.splitlines() if l.strip()]
            return found if len(found) >= 2 else None

        found = wait_until(entries, what="the program's journal entries")
        by_message = {e["MESSAGE"]: e for e in found}
        out, err = by_message["hello-journal"], by_message["oops-journal"]
        self.assertEqual(out["PRIORITY"], "6")
        self.assertEqual(err["PRIORITY"], "3")
        self.assertEqual(out["SYSLOG_IDENTIFIER"], "sh")
        self.assertEqual(out["BYED_PID"], err["BYED_PID"])
        self.assertTrue(int(out["BYED_PID"]) > 0)


if __name__ == "__main__":
    unittest.main()
