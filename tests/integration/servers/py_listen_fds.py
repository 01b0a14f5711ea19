"""An HTTP server that takes its socket the systemd way, through python3's
systemd.daemon.listen_fds() (Debian's python3-systemd). Each response body is
"pid=P fds=N\n"."""

import http.server
import os
import signal
import socket
import sys

from systemd import daemon

from pidhttp import handler

fds = daemon.listen_fds()
if not fds:
    sys.exit("py_listen_fds: no sockets")
sock = socket.socket(fileno=fds[0])


class Server(http.server.HTTPServer):
    def server_bind(self):  # already bound and listening: byed's socket
        self.server_address = self.socket.getsockname()


server = Server(sock.getsockname(), handler(f" fds={len(fds)}"),
                bind_and_activate=False)
server.socket = sock
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
server.serve_forever()
