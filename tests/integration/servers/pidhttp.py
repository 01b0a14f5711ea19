"""The HTTP handler the test servers share: each response body names the
process that served it, so a test can tell generations apart."""

import http.server
import os


def handler(extra=""):
    """A request handler class whose GET answers "pid=P{extra}\\n"."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = f"pid={os.getpid()}{extra}\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler
