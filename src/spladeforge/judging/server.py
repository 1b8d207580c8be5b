"""The judge page's HTTP server: Starlette routes over a `JudgeSession`, served by uvicorn.

    GET  /                      the page (web/index.html; web/ is served as /static)
    GET  /api/session           the queries with their progress, and the totals
    GET  /api/queries/{id}      a query's pooled passages
    POST /api/grades            {"query_id", "chunk_id", "grade": 0|1|2|null}
    POST /api/queries           {"text"}: a typed query, added and pooled

A bad request is answered 4xx with {"error": "<what is wrong>"} and nothing is written. The work
runs in Starlette's thread pool: searching and the fsync of each grade must not stall the loop.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from spladeforge.errors import InputError
from spladeforge.judging.session import JudgeSession, RequestError

logger = logging.getLogger(__name__)

WEB = Path(__file__).parent / "web"
MAX_BODY = 64 * 1024


async def _json_body(request: Request) -> Any:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise RequestError(413, f"request body of {len(body)} bytes is too large (at most {MAX_BODY})")
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise RequestError(400, "request body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise RequestError(400, f"request body is not valid JSON ({exc.msg} at character {exc.pos})") from None


def _answer(work: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return JSONResponse(await work(request), headers={"Cache-Control": "no-store"})
        except RequestError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except InputError as exc:  # the folder on disk went bad (edited by hand while the page ran)
            logger.error("%s", exc)
            return JSONResponse({"error": str(exc)}, status_code=409)
    return endpoint


def create_app(session: JudgeSession) -> Starlette:
    async def page(_: Request) -> Response:
        return FileResponse(WEB / "index.html", headers={"Cache-Control": "no-store"})

    async def summary(_: Request) -> Any:
        return await run_in_threadpool(session.summary)

    async def query(request: Request) -> Any:
        return await run_in_threadpool(session.query_view, request.path_params["qid"])

    async def grade(request: Request) -> Any:
        return await run_in_threadpool(session.grade, await _json_body(request))

    async def add_query(request: Request) -> Any:
        return await run_in_threadpool(session.add_query, await _json_body(request))

    return Starlette(routes=[
        Route("/", page),
        Route("/api/session", _answer(summary)),
        Route("/api/queries/{qid}", _answer(query)),
        Route("/api/grades", _answer(grade), methods=["POST"]),
        Route("/api/queries", _answer(add_query), methods=["POST"]),
        Mount("/static", StaticFiles(directory=WEB), name="static"),
    ])


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one), bound before the server starts so the URL is known."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port} ({exc.strerror}); pass another --port") from None
    sock.listen(128)
    return sock


def url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


class Server:
    """uvicorn serving the page on a bound socket; `run()` blocks, `start()`/`stop()` run it in a thread."""

    def __init__(self, session: JudgeSession, sock: socket.socket) -> None:
        import uvicorn

        self.sock, self.url = sock, url(sock)
        self._server = uvicorn.Server(uvicorn.Config(create_app(session), log_level="warning", lifespan="off"))
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        self._server.run(sockets=[self.sock])

    def start(self) -> Server:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        while not self._server.started and self._thread.is_alive():
            self._thread.join(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self.sock.close()
