"""What the judge page asks and sends, checked and answered: the page's server without the HTTP.

Every request is validated before anything is written: a grade outside 0-2, an unknown query or
chunk id, a field of the wrong type is a `RequestError` (a 4xx naming the problem). Grades are
the human grades of the judgments folder; each is recorded as `human:<user>` with the systems
whose top k held the chunk (for the log only: the page never learns which system found what).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from spladeforge.judging.highlight import spans, stems
from spladeforge.judging.pooling import PooledChunk, pool
from spladeforge.judging.storage import GRADES, JudgmentStore

if TYPE_CHECKING:
    from spladeforge.retrieval.chunks import Chunks
    from spladeforge.retrieval.searchers import Searcher

logger = logging.getLogger(__name__)

MAX_QUERY_CHARS = 1000


class RequestError(Exception):
    """A request the page (or a script) got wrong: `status` is the HTTP status, the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _fields(payload: Any, required: dict[str, tuple[type, ...]]) -> dict[str, Any]:
    accepted = ", ".join(required)
    if not isinstance(payload, dict):
        raise RequestError(400, f"expected a JSON object with {accepted}")
    missing = [name for name in required if name not in payload]
    if missing:
        raise RequestError(422, f"missing field(s) {', '.join(missing)} (expected {accepted})")
    unknown = sorted(set(payload) - set(required))
    if unknown:
        raise RequestError(422, f"unknown field(s) {', '.join(unknown)} (expected {accepted})")
    for name, types in required.items():
        value = payload[name]
        if not isinstance(value, types) or isinstance(value, bool) and bool not in types:
            wanted = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise RequestError(422, f"{name} must be {wanted} (got {value!r})")
    return payload


class JudgeSession:
    """The judgments folder, the chunk corpus and the pooled systems behind one judge page."""

    def __init__(self, store: JudgmentStore, chunks: Chunks, searchers: Mapping[str, Searcher], *,
                 k: int = 10, user: str) -> None:
        if not searchers:
            raise ValueError("at least one system is needed to pool passages")
        self.store, self.chunks, self.searchers, self.k = store, chunks, dict(searchers), k
        self.judge = f"human:{user}"
        self._pools: dict[str, list[PooledChunk]] = {}
        self._lock = threading.Lock()

    # --- pools -----------------------------------------------------------------------------

    def pool_of(self, qid: str, text: str) -> list[PooledChunk]:
        """The query's pool, searched once per server (the systems do not change while it runs)."""
        with self._lock:
            if qid not in self._pools:
                self._pools[qid] = [c for c in pool(text, self.searchers, self.k) if c.chunk_id in self.chunks.rows]
            return self._pools[qid]

    def pool_all(self) -> int:
        """Pool every query of the folder now, so the page answers at once; return how many."""
        queries = self.store.queries()
        for qid, text in queries.items():
            self.pool_of(qid, text)
        return len(queries)

    # --- answers ---------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """The query list with each query's progress, and the totals."""
        grades = self.store.grades(human=True)
        rows = []
        for qid, text in self.store.queries().items():
            pooled = self.pool_of(qid, text)
            judged = sum((qid, c.chunk_id) in grades for c in pooled)
            rows.append({"id": qid, "text": text, "pooled": len(pooled), "judged": judged,
                         "new": len(pooled) - judged if judged else 0})
        return {"user": self.judge.removeprefix("human:"), "k": self.k, "queries": rows,
                "passages_pooled": sum(r["pooled"] for r in rows),
                "passages_judged": sum(r["judged"] for r in rows),
                "queries_complete": sum(r["pooled"] > 0 and r["judged"] == r["pooled"] for r in rows)}

    def query_view(self, qid: str) -> dict[str, Any]:
        """A query's pooled passages in their shuffled order: title, full text, highlights, grade."""
        text = self._query_text(qid)
        pooled = self.pool_of(qid, text)
        grades = self.store.grades(human=True)
        query_stems = stems(text)
        judged_any = any((qid, c.chunk_id) in grades for c in pooled)
        passages = []
        for chunk in pooled:
            record = self.chunks.get(chunk.chunk_id)
            title = str(record.get("title") or "")
            section = str(record.get("section") or "")
            heading = f"{title} · {section}" if section and section != title else title
            grade = grades.get((qid, chunk.chunk_id))
            passages.append({"chunk_id": chunk.chunk_id, "title": heading, "text": record["text"],
                             "title_highlights": spans(heading, query_stems),
                             "highlights": spans(record["text"], query_stems),
                             "grade": grade, "new": judged_any and grade is None})
        return {"id": qid, "text": text, "passages": passages,
                "new": sum(p["new"] for p in passages)}

    # --- writes ----------------------------------------------------------------------------

    def grade(self, payload: Any) -> dict[str, Any]:
        """Record one grade (null withdraws this judge's grade); answer with the query's new progress."""
        fields = _fields(payload, {"query_id": (str,), "chunk_id": (str,), "grade": (int, type(None))})
        qid, chunk_id, grade = fields["query_id"], fields["chunk_id"], fields["grade"]
        if grade is not None and grade not in GRADES:
            raise RequestError(422, f"grade {grade} is not one of 0, 1, 2 (or null to withdraw a grade)")
        text = self._query_text(qid)
        if chunk_id not in self.chunks.rows:
            raise RequestError(404, f"unknown chunk id {chunk_id!r} (not in {self.chunks.path})")
        systems = next((c.systems for c in self.pool_of(qid, text) if c.chunk_id == chunk_id), ())
        self.store.record(qid, chunk_id, grade, self.judge, chunk_text=self.chunks.get(chunk_id)["text"],
                          systems=systems)
        return {"saved": True, "query_id": qid, "chunk_id": chunk_id, "grade": grade}

    def add_query(self, payload: Any) -> dict[str, Any]:
        """A query typed into the page: added to the folder (once) and pooled."""
        text = _fields(payload, {"text": (str,)})["text"].strip()
        if not text:
            raise RequestError(422, "text must be a non-empty query")
        if len(text) > MAX_QUERY_CHARS:
            raise RequestError(422, f"a query of {len(text)} characters is too long (at most {MAX_QUERY_CHARS})")
        qid = self.store.add_query(text, "typed")
        self.pool_of(qid, self.store.queries()[qid])
        return {"id": qid}

    def _query_text(self, qid: str) -> str:
        queries = self.store.queries()
        if qid not in queries:
            raise RequestError(404, f"unknown query id {qid!r} (not in {self.store.queries_path})")
        return queries[qid]
