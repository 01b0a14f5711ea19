"""An HTTP server that takes its socket the systemd way, through python3's
systemd.daemon.listen_fds() (Debian's python3-systemd). Each response body is
"pid=P fds=N\n"."""

import http.server
import os
import signal
import socket
import sys

from systemd import daemon

fds = daemon.listen_fds()
if not fds:
    sys.exit("py_listen_fds: no sockets")
sock = socket.socket(fileno=fds[0])


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"pid={os.getpid()} fds={len(fds)}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.HTTPServer):
    def server_bind(self):  # already bound and listening: byed's socket
        self.server_address = self.socket.getsockname()


server = Server(sock.getsockname(), Handler, bind_and_activate=False)
server.socket = sock
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
server.serve_forever()
