"""Every query filter rejects what it should, counts it per type, and the round trip flags rather than drops."""

from __future__ import annotations

import pytest

from spladeforge.config import QueryFilterConfig
from spladeforge.querygen.filters import QueryFilter

TOPICS = {
    "gzip": "The gzip module compresses and decompresses files in the gzip format used by GNU zip. "
            "Compression levels range from one to nine and trade speed for smaller archives.",
    "sqlite3": "The sqlite3 module provides a SQL interface to SQLite databases stored in a single "
               "file on disk. Cursors execute statements and fetch rows from query results.",
    "socket": "The socket module gives access to the BSD socket interface for network connections "
              "over TCP and UDP. Timeouts protect callers from hosts that never answer.",
    "json": "The json module encodes Python objects as JSON strings and decodes JSON text back into "
            "dictionaries and lists. Custom encoders serialize other types.",
}


def _chunk(topic: str) -> dict:
    return {"id": f"{topic}#0", "doc_id": topic, "title": topic, "text": TOPICS[topic]}


def test_length_copy_and_duplicate_filters():
    f = QueryFilter(QueryFilterConfig(min_words=2, max_words=8, max_chars=60))
    gz = _chunk("gzip")
    copied = "compresses and decompresses files in the gzip format"
    assert not f.accept("gzip", "keywords", gz)                       # one word
    assert not f.accept("a b c d e f g h i", "keywords", gz)          # nine words
    assert not f.accept(copied, "question", gz)                       # verbatim from the chunk
    f2 = QueryFilter(QueryFilterConfig(max_words=20))
    assert f2.accept(copied, "sentence", gz), "the ICT sentence type is a chunk sentence by design"
    assert f.accept("gzip compression levels", "keywords", gz)
    assert not f.accept("GZIP  compression levels!", "keywords", gz)  # same words, same chunk
    assert not f.accept("", "question", gz)
    report = f.report([])
    assert report["rejected"] == {"too_short": {"keywords": 1}, "too_long": {"keywords": 1},
                                  "copied_from_chunk": {"question": 1}, "duplicate": {"keywords": 1},
                                  "empty": {"question": 1}}
    assert report["generated"] == {"keywords": 4, "question": 2}


def test_global_dedupe_and_bm25_round_trip():
    chunks = [_chunk(t) for t in TOPICS]
    queries = [
        {"chunk_id": "gzip#0", "text": "gzip compression levels", "type": "keywords"},
        {"chunk_id": "json#0", "text": "gzip compression levels", "type": "keywords"},  # duplicate text
        {"chunk_id": "socket#0", "text": "sqlite cursors fetch rows", "type": "keywords"},  # wrong chunk
        {"chunk_id": "sqlite3#0", "text": "sql interface to databases", "type": "question"},
    ]
    f = QueryFilter(QueryFilterConfig(round_trip="bm25", round_trip_k=1))
    kept = f.round_trip(f.dedupe_global(queries), chunks)
    # The round trip flags, it does not drop: split keeps the failures out of training only.
    assert [(q["chunk_id"], q["round_trip_ok"]) for q in kept] == [
        ("gzip#0", True), ("socket#0", False), ("sqlite3#0", True)]
    report = f.report(kept)
    assert report["rejected"] == {"duplicate": {"keywords": 1}}
    assert report["round_trip_bm25_failed"] == {"keywords": 1}


@pytest.mark.slow
def test_splade_round_trip():
    chunks = [_chunk(t) for t in TOPICS]
    queries = [{"chunk_id": "gzip#0", "text": "gzip compression", "type": "keywords"},
               {"chunk_id": "socket#0", "text": "sqlite database cursors rows", "type": "keywords"}]
    f = QueryFilter(QueryFilterConfig(round_trip="splade", round_trip_k=1))
    flagged = f.round_trip(queries, chunks)
    assert [q["round_trip_ok"] for q in flagged] == [True, False]
    assert f.report(flagged)["round_trip_splade_failed"] == {"keywords": 1}


@pytest.mark.slow
def test_bm25_round_trip_checks_expansion_queries_with_splade():
    # Why: an expansion query holds none of its chunk's words, so BM25 would fail every one of them.
    chunks = [_chunk(t) for t in TOPICS]
    queries = [{"chunk_id": "gzip#0", "text": "gzip compression levels", "type": "keywords"},
               {"chunk_id": "json#0", "text": "serialization dictionary", "type": "expansion"},
               {"chunk_id": "gzip#0", "text": "serialization dictionary", "type": "keywords"}]
    f = QueryFilter(QueryFilterConfig(round_trip="bm25", round_trip_k=1))
    flagged = f.round_trip(queries, chunks)
    assert [q["round_trip_ok"] for q in flagged] == [True, True, False]
    report = f.report(flagged)
    assert report["round_trip_bm25_failed"] == {"keywords": 1}
    assert report["round_trip_splade_types"] == ["expansion"]


@pytest.mark.slow
def test_splade_round_trip_reuses_vectors_the_expansion_queries_encoded():
    # Why: encoding the corpus twice with the same model doubled generate-queries' time on 5k passages.
    import torch

    from spladeforge.models.build import load_sparse_encoder
    from spladeforge.text import passage

    chunks = [_chunk(t) for t in TOPICS]
    queries = [{"chunk_id": "gzip#0", "text": "gzip compression", "type": "expansion"},
               {"chunk_id": "socket#0", "text": "sqlite database cursors rows", "type": "expansion"}]
    model = load_sparse_encoder("builtin:splade-tiny", device="cpu")
    vectors = model.encode_document([passage(c) for c in chunks], batch_size=32, convert_to_sparse_tensor=True)

    def flags(encoded):
        f = QueryFilter(QueryFilterConfig(round_trip="bm25", round_trip_k=1))
        return [q["round_trip_ok"] for q in f.round_trip([dict(q) for q in queries], chunks, encoded=encoded)]

    assert flags(None) == flags(("builtin:splade-tiny", vectors)) == [True, False]
    blank = torch.zeros(vectors.shape).to_sparse()
    assert flags(("builtin:splade-tiny", blank)) == [False, False]  # the given vectors are the ones searched
    assert flags(("another-model", blank)) == [True, False]  # another model's vectors are not
