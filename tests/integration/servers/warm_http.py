"""An unmodified server that takes the held socket (fd 3) and warms up
before it serves, knowing no readiness protocol. Its behaviour comes from
the first line of $WARM_MODE_FILE, read at start:
  "ok SECONDS"      warm up, then serve: http.server (poll) by default,
                    asyncio (epoll) with WARM_STYLE=asyncio
  "fail SECONDS"    warm up, then exit 3 (a release that fails at start)
  "fail SECONDS I,J"  the same for the workers BYED_WORKER=I or J only;
                    the others are "ok SECONDS"
  "gate PATH"       warm up until the file PATH exists, then serve
Prints "warming pid=P" at start and "serving pid=P" once it waits on the
socket; with WARM_READY_MESSAGE=1 it also writes bye's ready byte to its
$UPGRADE_FD then (a variant that speaks the protocol). On TERM it stops
accepting, answers what it took, and exits 0.

For byed's --workers (several copies on one socket):
  WARM_WORKER_INFO=1   each answer also says " worker=$BYED_WORKER
                       workers=$BYED_WORKERS listen_pid=$LISTEN_PID", and
                       the socket does not block: a copy that wakes for a
                       connection another one took goes back to waiting
                       (where TERM reaches it) instead of blocking in accept
  WARM_LEFTOVER_DIR=D  at start, leaves a child behind (sleep 600, in its
                       process group, no fds of its) and writes its pid to
                       D/leftover.PID"""

import os
import signal
import socket
import subprocess
import sys
import time

from pidhttp import handler

fields = open(os.environ["WARM_MODE_FILE"]).readline().split()
mode, arg = fields[0], fields[1]
if (mode == "fail" and len(fields) > 2
        and os.environ.get("BYED_WORKER") not in fields[2].split(",")):
    mode = "ok"
print(f"warming pid={os.getpid()}", flush=True)
stop = False
extra = ""
if os.environ.get("WARM_WORKER_INFO") == "1":
    extra = "".join(f" {k}={os.environ.get(v, '-')}" for k, v in (
        ("worker", "BYED_WORKER"), ("workers", "BYED_WORKERS"),
        ("listen_pid", "LISTEN_PID")))
if os.environ.get("WARM_LEFTOVER_DIR"):
    left = subprocess.Popen(["sleep", "600"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL)
    path = os.path.join(os.environ["WARM_LEFTOVER_DIR"],
                        f"leftover.{os.getpid()}")
    with open(path + ".tmp", "w") as f:
        f.write(str(left.pid))
    os.rename(path + ".tmp", path)


def serving():
    print(f"serving pid={os.getpid()}", flush=True)
    if os.environ.get("WARM_READY_MESSAGE") == "1":
        os.write(int(os.environ["UPGRADE_FD"]), b"x")


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
if mode == "gate":
    while not os.path.exists(arg) and not stop:
        time.sleep(0.005)  # a poll loop on the test's go-ahead
else:
    time.sleep(float(arg))
if mode == "fail":
    sys.exit(3)

sock = socket.socket(fileno=3)
if extra:
    sock.setblocking(False)
if os.environ.get("WARM_STYLE") == "asyncio":
    import asyncio

    async def serve(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        body = f"pid={os.getpid()}{extra}\n".encode()
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(body), body))
        await writer.drain()
        writer.close()

    active = 0
    accepted = 0  # connections this process took off the socket
    started = 0   # of them, the ones whose handler has started

    class Counting(socket.socket):
        def accept(self):
            global accepted
            pair = super().accept()
            accepted += 1
            return pair

    sock = Counting(fileno=sock.detach())

    async def counted(reader, writer):
        global active, started
        started += 1
        active += 1
        try:
            await serve(reader, writer)
        finally:
            active -= 1

    async def main():
        term = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, term.set)
        if stop:
            return
        server = await asyncio.start_server(counted, sock=sock)
        serving()
        await term.wait()
        server.close()  # byed keeps the socket: nothing is refused
        # Every connection taken off the socket is answered: one accepted
        # just before close() reaches its handler some loop turns later
        # (more on a loaded machine), so wait for the counts, not turns.
        deadline = time.monotonic() + 30
        while (started < accepted or active) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    asyncio.run(main())
else:
    import http.server
    server = http.server.HTTPServer(("", 0), handler(extra),
                                    bind_and_activate=False)
    server.socket = sock
    server.timeout = 0.1
    serving()
    if extra:
        # handle_request() on a socket that does not block would poll with
        # a zero timeout (a busy loop, never seen waiting): wait in poll
        # here, and take a connection another copy took as nothing.
        import selectors
        waiting = selectors.PollSelector()
        waiting.register(sock, selectors.EVENT_READ)
        while not stop:
            if waiting.select(0.1):
                server._handle_request_noblock()
    else:
        while not stop:
            server.handle_request()
