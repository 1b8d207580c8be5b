"""A small HTTP server on 127.0.0.1 that plays the KFP v2beta1 REST API and records requests.

It answers only what `kfp.Client` asks for when submitting and scheduling, with just enough of
each resource for the client to go on; every request is kept for the test to assert on. Like a
Kubeflow behind Istio/oauth2-proxy, it can demand a bearer token and/or a session cookie on every
request (401 otherwise), and say it is multi-user. With `require_namespace` it plays
REQUIRE_NAMESPACE_FOR_PIPELINES=true: pipelines are listed and uploaded per namespace, and a
request without one is refused (400).
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
    headers: dict[str, str] = field(default_factory=dict)


def _display_name_filter(query: dict[str, list[str]]) -> str | None:
    """The display_name an EQUALS filter asks for (the only filter kfp.Client sends here)."""
    for predicate in json.loads(query.get("filter", ["{}"])[0] or "{}").get("predicates", []):
        if predicate.get("key") == "display_name" and predicate.get("operation") == "EQUALS":
            return predicate.get("stringValue") or predicate.get("string_value")
    return None


class FakeKfp:
    def __init__(self, token: str | None = None, cookie: str | None = None, multi_user: bool = False,
                 require_namespace: bool = False) -> None:
        self.token, self.cookie, self.multi_user = token, cookie, multi_user
        self.require_namespace = require_namespace
        self.requests: list[Recorded] = []
        self.refused: list[Recorded] = []
        self.experiments: dict[str, dict] = {}
        self.pipelines: dict[str, dict] = {}
        self.recurring_runs: dict[str, dict] = {}
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

            def _authorized(self, rec: Recorded) -> bool:
                bearer = rec.headers.get("authorization", "")
                if fake.token is not None and bearer != f"Bearer {fake.token}":
                    return False
                return fake.cookie is None or fake.cookie in rec.headers.get("cookie", "")

            def _record(self) -> Recorded | None:
                """The request, recorded; None (401 sent) when it lacks the credentials asked for."""
                url = urlsplit(self.path)
                rec = Recorded(self.command, url.path, parse_qs(url.query),
                               headers={k.lower(): v for k, v in self.headers.items()})
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
                if not self._authorized(rec):
                    fake.refused.append(rec)
                    self._send({"error": "Unauthorized", "code": 16}, 401)
                    return None
                fake.requests.append(rec)
                return rec

            def do_GET(self) -> None:
                rec = self._record()
                if rec is None:
                    return
                path = rec.path.removeprefix(API)
                if path == "/healthz":
                    return self._send({"multi_user": fake.multi_user})
                if path == "/experiments":
                    return self._send({"experiments": list(fake.experiments.values()),
                                       "total_size": len(fake.experiments)})
                if path.startswith("/experiments/"):
                    return self._send(fake.experiments[path.rsplit("/", 1)[1]])
                if path == "/pipelines":
                    namespace = rec.query.get("namespace", [""])[0]
                    if fake.require_namespace and not namespace:
                        return self._send({"error": "namespace is required for pipelines", "code": 3}, 400)
                    wanted = _display_name_filter(rec.query)
                    found = [p for p in fake.pipelines.values() if wanted in (None, p["display_name"])
                             and p.get("namespace", "") == namespace]
                    return self._send({"pipelines": found, "total_size": len(found)})
                if path == "/recurringruns":
                    wanted = _display_name_filter(rec.query)
                    found = [r for r in fake.recurring_runs.values() if wanted in (None, r["display_name"])]
                    return self._send({"recurringRuns": found, "total_size": len(found)})
                if path.startswith("/runs/"):
                    return self._send({"run_id": path.rsplit("/", 1)[1], "state": "PENDING"})
                self._send({"error": f"not played: GET {path}"}, 404)

            def do_DELETE(self) -> None:
                rec = self._record()
                if rec is None:
                    return
                path = rec.path.removeprefix(API)
                if path.startswith("/recurringruns/") and fake.recurring_runs.pop(path.rsplit("/", 1)[1], None):
                    return self._send({})
                self._send({"error": f"not found: DELETE {path}"}, 404)

            def do_POST(self) -> None:
                rec = self._record()
                if rec is None:
                    return
                path = rec.path.removeprefix(API)
                if path == "/experiments":
                    exp = dict(rec.json, experiment_id=f"exp-{len(fake.experiments) + 1}")
                    fake.experiments[exp["experiment_id"]] = exp
                    return self._send(exp)
                if path == "/runs":
                    return self._send(dict(rec.json, run_id="run-1", state="PENDING"))
                if path == "/pipelines/upload":
                    namespace = rec.query.get("namespace", [""])[0]
                    if fake.require_namespace and not namespace:
                        return self._send({"error": "namespace is required for pipelines", "code": 3}, 400)
                    pipe = {"pipeline_id": f"pipe-{len(fake.pipelines) + 1}",
                            "display_name": rec.query.get("name", ["?"])[0], "namespace": namespace}
                    fake.pipelines[pipe["pipeline_id"]] = pipe
                    return self._send(pipe)
                if path == "/pipelines/upload_version":
                    return self._send({"pipeline_id": rec.query["pipelineid"][0],
                                       "pipeline_version_id": "ver-1",
                                       "display_name": rec.query.get("name", ["?"])[0]})
                if path == "/recurringruns":
                    job = dict(rec.json, recurring_run_id=f"rr-{len(fake.recurring_runs) + 1}")
                    while job["recurring_run_id"] in fake.recurring_runs:
                        job["recurring_run_id"] += "+"
                    fake.recurring_runs[job["recurring_run_id"]] = job
                    return self._send(job)
                self._send({"error": f"not played: POST {path}"}, 404)

        return Handler
