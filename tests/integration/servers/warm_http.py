"""An unmodified server that takes the held socket (fd 3) and warms up
before it serves, knowing no readiness protocol. Its behaviour comes from
the first line of $WARM_MODE_FILE, read at start:
  "ok SECONDS"      warm up, then serve: http.server (poll) by default,
                    asyncio (epoll) with WARM_STYLE=asyncio
  "fail SECONDS"    warm up, then exit 3 (a release that fails at start)
Prints "warming pid=P" at start and "serving pid=P" once it waits on the
socket; with WARM_READY_MESSAGE=1 it also writes bye's ready byte to its
$UPGRADE_FD then (a variant that speaks the protocol). On TERM it stops
accepting, answers what it took, and exits 0."""

import os
import signal
import socket
import sys
import time

from pidhttp import handler

mode, seconds = open(os.environ["WARM_MODE_FILE"]).readline().split()
print(f"warming pid={os.getpid()}", flush=True)
stop = False


def serving():
    print(f"serving pid={os.getpid()}", flush=True)
    if os.environ.get("WARM_READY_MESSAGE") == "1":
        os.write(int(os.environ["UPGRADE_FD"]), b"x")


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
time.sleep(float(seconds))
if mode == "fail":
    sys.exit(3)

sock = socket.socket(fileno=3)
if os.environ.get("WARM_STYLE") == "asyncio":
    import asyncio

    async def serve(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        body = f"pid={os.getpid()}\n".encode()
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(body), body))
        await writer.drain()
        writer.close()

    active = 0

    async def counted(reader, writer):
        global active
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
        while active:
            await asyncio.sleep(0.01)

    asyncio.run(main())
else:
    import http.server
    server = http.server.HTTPServer(("", 0), handler(),
                                    bind_and_activate=False)
    server.socket = sock
    server.timeout = 0.1
    serving()
    while not stop:
        server.handle_request()
