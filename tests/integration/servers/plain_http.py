"""A server that knows no protocol: python3's http.server on fd 3 (the
socket byed holds), never saying it is ready. On TERM it finishes the
request in hand and exits."""

import http.server
import os
import signal
import socket

from pidhttp import handler

stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
server = http.server.HTTPServer(("", 0), handler(), bind_and_activate=False)
server.socket = socket.socket(fileno=3)
server.timeout = 0.1
print(f"ready pid={os.getpid()}", flush=True)
while not stop:
    server.handle_request()
