#!/usr/bin/env python3
"""The service behind nginx in tests/e2e/nginx: answers every request with what it received (the
method, the path, every header in order and the body's length) as JSON, and counts the requests.
`GET /__hits`, sent to it directly, answers the count without adding to it, so the suite can tell
whether nginx called the service at all.

    echo_upstream.py PORT

Loopback only; standard library only; it runs until it is killed.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

hits = 0
lock = threading.Lock()


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        global hits
        if self.command == "GET" and self.path == "/__hits":
            with lock:
                body = {"hits": hits}
        else:
            length = int(self.headers.get("Content-Length") or 0)
            received = self.rfile.read(length) if length else b""
            with lock:
                hits += 1
            body = {
                "method": self.command,
                "path": self.path,
                "headers": [[name, value] for name, value in self.headers.items()],
                "body_length": len(received),
            }
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = answer

    def log_message(self, *args):
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Echo)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
