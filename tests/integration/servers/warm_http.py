"""An unmodified server that takes the held socket (fd 3) and warms up
before it serves, knowing no readiness protocol. Its behaviour comes from
the first line of $WARM_MODE_FILE, read at start:
  "ok SECONDS"      warm up, then serve: http.server (poll) by default,
                    asyncio (epoll) with WARM_STYLE=asyncio
  "fail SECONDS"    warm up, then exit 3 (a release that fails at start)
Prints "warming pid=P" at start and "serving pid=P" once it waits on the
socket. On TERM it exits 0."""

import os
import signal
import socket
import sys
import time

from pidhttp import handler

mode, seconds = open(os.environ["WARM_MODE_FILE"]).readline().split()
print(f"warming pid={os.getpid()}", flush=True)
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
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

    async def main():
        server = await asyncio.start_server(serve, sock=sock)
        print(f"serving pid={os.getpid()}", flush=True)
        await server.serve_forever()

    asyncio.run(main())
else:
    import http.server
    server = http.server.HTTPServer(("", 0), handler(),
                                    bind_and_activate=False)
    server.socket = sock
    print(f"serving pid={os.getpid()}", flush=True)
    server.serve_forever(poll_interval=3600)
