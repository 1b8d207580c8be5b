"""The judge page's answers without HTTP: incremental pooling and progress."""

from __future__ import annotations

from spladeforge.judging.session import JudgeSession
from spladeforge.judging.storage import JudgmentStore
from spladeforge.retrieval.chunks import load_chunks
from tests.judging.corpus import FixedSearcher, write_chunks


def test_a_new_model_brings_new_passages_to_judge(tmp_path):
    """Restarted with a new system, a judged query offers only the passages that system added."""
    chunks = load_chunks(write_chunks(tmp_path / "chunks.jsonl"))
    store = JudgmentStore(tmp_path / "judgments")
    qid = store.add_query("read rows from a csv file", "typed")
    old = {"bm25": FixedSearcher("bm25", ["csv-0", "csv-1"])}
    first = JudgeSession(store, chunks, old, k=2, user="ann")
    for chunk_id in ("csv-0", "csv-1"):
        first.grade({"query_id": qid, "chunk_id": chunk_id, "grade": 1})
    assert first.query_view(qid)["new"] == 0
    assert first.summary()["queries_complete"] == 1
    later = JudgeSession(store, chunks, {**old, "model": FixedSearcher("model", ["csv-0", "gzip-0"])}, k=2, user="ann")
    view = later.query_view(qid)
    assert view["new"] == 1 and [p["chunk_id"] for p in view["passages"] if p["new"]] == ["gzip-0"]
    summary = later.summary()
    assert summary["queries"][0] == {"id": qid, "text": "read rows from a csv file", "pooled": 3, "judged": 2,
                                     "new": 1}
    assert summary["queries_complete"] == 0
    later.grade({"query_id": qid, "chunk_id": "gzip-0", "grade": 0})
    assert store.entries()[-1].systems == ("model",)
    assert later.query_view(qid)["new"] == 0


def test_an_unjudged_query_has_no_new_passages(tmp_path):
    """"New" means new since judging began; a query nobody graded is simply unjudged."""
    chunks = load_chunks(write_chunks(tmp_path / "chunks.jsonl"))
    store = JudgmentStore(tmp_path / "judgments")
    qid = store.add_query("q", "typed")
    session = JudgeSession(store, chunks, {"a": FixedSearcher("a", ["csv-0", "no-such-chunk"])}, user="ann")
    view = session.query_view(qid)
    assert view["new"] == 0 and [p["chunk_id"] for p in view["passages"]] == ["csv-0"]
