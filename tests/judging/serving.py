"""A judge server on 127.0.0.1 over the tiny corpus, real BM25 and a fixed system, for API and browser tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from spladeforge.judging.server import Server, bind
from spladeforge.judging.session import JudgeSession
from spladeforge.judging.storage import JudgmentStore
from spladeforge.retrieval.chunks import load_chunks
from spladeforge.retrieval.searchers import Bm25Searcher
from tests.judging.corpus import FixedSearcher, write_chunks

QUERIES = ("read rows from a csv file", "decode a json string")


@contextlib.contextmanager
def judge_server(tmp_path: Path, *, user: str = "ann", queries=QUERIES) -> Iterator[Server]:
    chunks = load_chunks(write_chunks(tmp_path / "chunks.jsonl"))
    store = JudgmentStore(tmp_path / "judgments")
    for text in queries:
        store.add_query(text, "file:queries.txt")
    searchers = {"bm25": Bm25Searcher(chunks), "model": FixedSearcher("model", ["gzip-0", "json-0"])}
    session = JudgeSession(store, chunks, searchers, k=3, user=user)
    session.pool_all()
    server = Server(session, bind("127.0.0.1", 0)).start()
    try:
        yield server
    finally:
        server.stop()
