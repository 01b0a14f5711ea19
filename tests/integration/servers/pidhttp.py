"""The HTTP handler the test servers share: each response body names the
process that served it, so a test can tell generations (and workers)
apart.

GET /hold/DIR (DIR an absolute path) answers only once DIR/go exists, after
creating DIR/held.PID: a test that holds as many requests as there are
processes knows each process has taken one (a process serves one request
at a time)."""

import http.server
import os
import time


def handler(extra=""):
    """A request handler class whose GET answers "pid=P{extra}\\n"."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith("/hold/"):
                held = self.path[len("/hold"):]
                open(os.path.join(held, f"held.{os.getpid()}"), "w").close()
                while not os.path.exists(os.path.join(held, "go")):
                    time.sleep(0.005)  # a poll loop on the test's go-ahead
            body = f"pid={os.getpid()}{extra}\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler
