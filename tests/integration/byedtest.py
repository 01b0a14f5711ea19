"""Shared helpers for byed's integration tests.

Each test runs the built byed (path in $BYED) against real programs: the
helpers built in tests/helpers ($BYED_HELPERS), /bin/sh, python3 servers.
Waiting is always on an observable state (a line, a file, a process gone)
with a deadline, never a bare sleep.
"""

import json
import os
import select
import signal
import subprocess
import time
import unittest

BYED = os.environ.get("BYED", "")
HELPERS = os.environ.get("BYED_HELPERS", "")


def helper(name):
    return os.path.join(HELPERS, name)


def wait_until(predicate, timeout=5.0, interval=0.005, what="condition"):
    """Polls predicate until it returns a truthy value or timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def slurp(path):
    """A file's text, or "" while it does not exist yet."""
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def process_state(pid):
    """'R', 'S', 'Z', ... or None once the pid is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def zombies_of(ppid):
    """Zombie processes whose parent is ppid."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == ppid:
            out.append(int(p))
    return out


def alive(pid):
    state = process_state(pid)
    return state is not None and state != "Z"


class Byed:
    """A running byed with its stdout and stderr on pipes."""

    def __init__(self, args, env=None, prefix=(), **popen_kw):
        full_env = dict(os.environ)
        full_env.pop("NOTIFY_SOCKET", None)
        if env:
            full_env.update(env)
        self.proc = subprocess.Popen(
            list(prefix) + [BYED] + list(args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=full_env,
            **popen_kw,
        )
        self.pid = self.proc.pid
        self._out = b""
        self._err = b""
        self.err_all = b""  # every stderr byte so far, consumed or not

    def _pump(self, timeout):
        fds = [f for f in (self.proc.stdout, self.proc.stderr) if f and not f.closed]
        if not fds:
            return False
        ready, _, _ = select.select(fds, [], [], timeout)
        got = False
        for f in ready:
            chunk = os.read(f.fileno(), 65536)
            if f is self.proc.stdout:
                self._out += chunk
            else:
                self._err += chunk
                self.err_all += chunk
            got = got or bool(chunk)
        return got

    def read_line(self, prefix, timeout=5.0, stream="out"):
        """Waits for a stdout (or stderr) line starting with prefix; returns it
        and consumes everything up to it."""
        deadline = time.monotonic() + timeout
        while True:
            buf = self._out if stream == "out" else self._err
            for i, line in enumerate(buf.split(b"\n")[:-1]):
                text = line.decode(errors="replace")
                if text.startswith(prefix) or (stream == "err" and prefix in text):
                    rest = b"\n".join(buf.split(b"\n")[i + 1:])
                    if stream == "out":
                        self._out = rest
                    else:
                        self._err = rest
                    return text
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"no line {prefix!r} on std{stream} within {timeout}s; "
                    f"stdout={self._out!r} stderr={self._err!r}")
            if not self._pump(left) and self.proc.poll() is not None:
                self._pump(0)
                if not self._pump(0):
                    raise AssertionError(
                        f"byed exited ({self.proc.returncode}) before {prefix!r}; "
                        f"stdout={self._out!r} stderr={self._err!r}")

    def child_pid(self):
        """For helpers that print 'ready pid=N'."""
        return int(self.read_line("ready pid=").split("=", 1)[1])

    def signal(self, sig):
        os.kill(self.pid, sig)

    def wait(self, timeout=10.0):
        """Waits for exit; returns (code, stdout, stderr) with all output."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError(f"byed did not exit within {timeout}s")
            self._pump(min(0.05, max(0.0, deadline - time.monotonic())))
        while self._pump(0):
            pass
        return (self.proc.returncode, self._out.decode(errors="replace"),
                self._err.decode(errors="replace"))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        self.kill()
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()


def run_byed(args, timeout=10.0, **kw):
    """Runs byed to completion: (code, stdout, stderr)."""
    b = Byed(args, **kw)
    try:
        return b.wait(timeout)
    finally:
        b.close()


class ByedTestCase(unittest.TestCase):
    def setUp(self):
        if not BYED or not os.access(BYED, os.X_OK):
            self.fail("BYED must name the built byed binary")
        self._running = []

    def tearDown(self):
        for b in self._running:
            b.close()

    def start(self, args, **kw):
        b = Byed(args, **kw)
        self._running.append(b)
        return b

    def start_behind_shell(self, args, out):
        """byed started as `byed ARGS > out 2>&1 &` by a non-interactive sh
        that then waits (as a script would), in a session of its own that is
        killed at cleanup. Returns (the sh, byed's pid)."""
        import shlex
        cmd = " ".join(shlex.quote(a) for a in [BYED] + list(args))
        p = subprocess.Popen(
            ["/bin/sh", "-c", f"{cmd} > {shlex.quote(out)} 2>&1 & echo $!; wait"],
            stdout=subprocess.PIPE, text=True, start_new_session=True)

        def cleanup():
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
        self.addCleanup(cleanup)
        byed = int(p.stdout.readline())
        p.stdout.close()
        return p, byed

    @staticmethod
    def json_lines(text):
        return [json.loads(l) for l in text.splitlines() if l.strip()]


def free_port(family=None):
    """A TCP port nothing listens on right now (for tools that need a fixed
    one; byed itself can take :0 and report the port)."""
    import socket
    s = socket.socket(family or socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1" if s.family == socket.AF_INET else "::1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http_get(host, port, path="/", timeout=5.0, family=None):
    """GET over a fresh connection; returns (status, body)."""
    import socket
    fam = family or (socket.AF_INET6 if ":" in host else socket.AF_INET)
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect((host, port))
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1]) if head else 0
    return status, body.decode(errors="replace")


def http_get_retry(host, port, timeout=10.0, **kw):
    """GET, retrying while the server is still starting (connection reset or
    closed before a response); raises after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, body = http_get(host, port, **kw)
            if status:
                return status, body
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"no HTTP answer on {host}:{port}")
        time.sleep(0.02)


def answer_fields(body):
    """The test servers' answer "pid=P k=v ..." as a dict of strings."""
    return dict(kv.split("=", 1) for kv in body.split())


def held_answers(port, n, tmp_dir, timeout=60.0):
    """n requests at once to servers built on servers/pidhttp.py, each held
    by the process that took it until all n are taken: n processes that
    serve one request at a time answer one each. Returns the n answers'
    fields (answer_fields)."""
    import socket
    import tempfile
    hold = tempfile.mkdtemp(prefix="hold-", dir=tmp_dir)
    conns = []
    try:
        for _ in range(n):
            c = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            conns.append(c)
            c.sendall(f"GET /hold{hold} HTTP/1.0\r\nHost: x\r\n\r\n"
                      .encode())
        wait_until(lambda: sum(f.startswith("held.")
                               for f in os.listdir(hold)) == n,
                   timeout=timeout, what=f"{n} requests held at once")
        open(os.path.join(hold, "go"), "w").close()
        answers = []
        for c in conns:
            data = b""
            while True:
                chunk = c.recv(65536)
                if not chunk:
                    break
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.0 200"):
                raise AssertionError(f"held request answered {data!r}")
            answers.append(answer_fields(body.decode()))
        return answers
    finally:
        for c in conns:
            c.close()


class ClientLoop:
    """Requests one after another on fresh connections until stopped;
    counts answers and failures (a refused, reset or unanswered request),
    and collects the pids that answered ("pid=P" in the body)."""

    def __init__(self, port):
        import threading
        self.port, self.ok, self.failed, self.pids = port, 0, 0, set()
        self.errors = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                status, body = http_get("127.0.0.1", self.port, timeout=30)
                if status == 200:
                    self.ok += 1
                    self.pids.add(int(answer_fields(body)["pid"]))
                    continue
                self.errors.append(f"status {status}")
            except OSError as e:
                self.errors.append(repr(e))
            self.failed += 1

    def stop(self):
        self._stop.set()
        self._thread.join(60)
        return self.ok, self.failed


def ctl(*args, env=None, timeout=60):
    """`byed ctl ARGS` with no control socket from the environment:
    (exit code, stdout, stderr)."""
    full = dict(os.environ)
    full.pop("BYED_CONTROL", None)
    full.pop("RUNTIME_DIRECTORY", None)
    full.update(env or {})
    p = subprocess.run([BYED, "ctl", *args], capture_output=True, text=True,
                       env=full, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def held_address(byed, name=None):
    """Reads byed's 'holding socket' log line; returns the address."""
    line = byed.read_line("holding socket", stream="err")
    fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
    return fields["address"]


class GenerationsTestCase(ByedTestCase):
    """For tests that upgrade: a private temp dir, and a mode file that the
    test servers (byeserver, servers/faulty.sh) read at start, so each new
    generation can be told how to behave."""

    def setUp(self):
        super().setUp()
        import shutil
        import tempfile
        self.tmp = tempfile.mkdtemp(prefix="byed-gen-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.mode_file = os.path.join(self.tmp, "mode")
        self.set_mode("ok")

    def set_mode(self, mode):
        with open(self.mode_file, "w") as f:
            f.write(mode + "\n")

    def upgrade(self, b, timeout=30):
        """USR1, then the outcome line: ('done'|'failed', line)."""
        b.signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while True:
            line = b.read_line("upgrade ", stream="err",
                               timeout=max(0.1, deadline - time.monotonic()))
            if "upgrade done" in line:
                return "done", line
            if "upgrade failed" in line:
                return "failed", line
