"""Local HTTP servers for tests: bound to 127.0.0.1 on a free port, served from a daemon thread."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class JSONHandler(BaseHTTPRequestHandler):
    """A request handler with JSON in and out, and no access log in the test output."""

    def log_message(self, *args) -> None:
        pass

    def read_json(self) -> Any:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        """Answer `payload` (a str as is, anything else as JSON) with `status` and extra `headers`."""
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class LocalServer:
    """`handler` served on 127.0.0.1; `url` is its address plus `base_path`; `close()` stops it."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], base_path: str = "") -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{base_path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
