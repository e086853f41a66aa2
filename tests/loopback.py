"""A loopback HTTP server for download tests: serves in-memory files on 127.0.0.1 and can misbehave.

``server.files[path] = bytes`` publishes a file; ``server.faults[path]`` is a list
of faults consumed one per request: ``"truncate"`` (sends the full
Content-Length, then closes the connection halfway through the body) or an
HTTP status code such as 503. ``server.requests`` lists every path asked for.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        srv = self.server
        srv.requests.append(self.path)
        faults = srv.faults.get(self.path) or []
        fault = faults.pop(0) if faults else None
        if isinstance(fault, int):
            self.send_response(fault)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = srv.files.get(self.path)
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if fault == "truncate":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


class LoopbackServer:
    def __init__(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.files, self.httpd.faults, self.httpd.requests = {}, {}, []
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def files(self) -> dict[str, bytes]:
        return self.httpd.files

    @property
    def faults(self) -> dict[str, list]:
        return self.httpd.faults

    @property
    def requests(self) -> list[str]:
        return self.httpd.requests

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
