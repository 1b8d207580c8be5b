"""A small HTTP server on 127.0.0.1 that plays the KFP v2beta1 REST API and records requests.

It answers only what `kfp.Client` asks for when submitting and scheduling, with just enough of
each resource for the client to go on; every request is kept for the test to assert on.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

API = "/apis/v2beta1"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    json: dict | None = None
    files: dict[str, bytes] = field(default_factory=dict)


class FakeKfp:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.experiments: dict[str, dict] = {}
        self.pipelines: dict[str, dict] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeKfp:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def find(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == API + path]

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def _send(self, body: dict, status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> Recorded:
                url = urlsplit(self.path)
                rec = Recorded(self.command, url.path, parse_qs(url.query))
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                ctype = self.headers.get("Content-Type", "")
                if raw and ctype.startswith("application/json"):
                    rec.json = json.loads(raw)
                elif raw and ctype.startswith("multipart/form-data"):
                    msg = BytesParser(policy=HTTP).parsebytes(
                        f"Content-Type: {ctype}\r\n\r\n".encode() + raw)
                    for part in msg.iter_parts():
                        rec.files[part.get_param("name", header="content-disposition")] = part.get_payload(
                            decode=True)
                fake.requests.append(rec)
                return rec

            def do_GET(self) -> None:
                rec = self._record()
                path = rec.path.removeprefix(API)
                if path == "/healthz":
                    return self._send({"multi_user": False})
                if path == "/experiments":
                    return self._send({"experiments": list(fake.experiments.values()),
                                       "total_size": len(fake.experiments)})
                if path.startswith("/experiments/"):
                    return self._send(fake.experiments[path.rsplit("/", 1)[1]])
                if path == "/pipelines":
                    return self._send({"pipelines": list(fake.pipelines.values()),
                                       "total_size": len(fake.pipelines)})
                if path.startswith("/runs/"):
                    return self._send({"run_id": path.rsplit("/", 1)[1], "state": "PENDING"})
                self._send({"error": f"not played: GET {path}"}, 404)

            def do_POST(self) -> None:
                rec = self._record()
                path = rec.path.removeprefix(API)
                if path == "/experiments":
                    exp = dict(rec.json, experiment_id=f"exp-{len(fake.experiments) + 1}")
                    fake.experiments[exp["experiment_id"]] = exp
                    return self._send(exp)
                if path == "/runs":
                    return self._send(dict(rec.json, run_id="run-1", state="PENDING"))
                if path == "/pipelines/upload":
                    pipe = {"pipeline_id": "pipe-1", "display_name": rec.query.get("name", ["?"])[0]}
                    fake.pipelines[pipe["pipeline_id"]] = pipe
                    return self._send(pipe)
                if path == "/pipelines/upload_version":
                    return self._send({"pipeline_id": rec.query["pipelineid"][0],
                                       "pipeline_version_id": "ver-1",
                                       "display_name": rec.query.get("name", ["?"])[0]})
                if path == "/recurringruns":
                    return self._send(dict(rec.json, recurring_run_id="rr-1"))
                self._send({"error": f"not played: POST {path}"}, 404)

        return Handler
