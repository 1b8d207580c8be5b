"""The extractive generator makes all three query types, in the configured mix, repeatably."""

from __future__ import annotations

from collections import Counter

import pytest

from spladeforge.config import GenerateQueriesConfig
from spladeforge.errors import InputError
from spladeforge.io import read_jsonl, write_jsonl
from spladeforge.stages import generate_queries

TEXTS = [
    "Return the number of items in a container. The container must support iteration. "
    "Counting stops at the first sentinel value.",
    "Compress data with the DEFLATE algorithm. Compression levels range from zero to nine. "
    "Higher levels trade speed for smaller archives.",
    "Open a network socket to a remote host. Sockets carry bytes over TCP connections. "
    "Timeouts protect callers from hosts that never answer.",
    "Parse a configuration file into sections. Each section holds key and value pairs. "
    "Interpolation replaces references between values.",
]


@pytest.fixture()
def chunks_file(tmp_path):
    chunks = [{"id": f"d{i}#0", "doc_id": f"d{i}", "title": f"mod{i}", "section": f"mod{i}.func",
               "text": TEXTS[i % 4] + f" Variant {i}."} for i in range(40)]
    path = tmp_path / "chunks.jsonl"
    write_jsonl(path, chunks)
    return path


def test_all_types_in_the_configured_mix(chunks_file, tmp_path):
    # The fixture repeats each text 10 times, so the default global dedupe would (rightly) drop
    # most queries; this test is about the mix, so duplicates are only refused within a chunk.
    cfg = GenerateQueriesConfig(queries_per_chunk=3, mix={"keywords": 1, "question": 1, "sentence": 1},
                                filters={"dedupe": "chunk"})
    summary = generate_queries.run(cfg, chunks_file, tmp_path / "q.jsonl", seed=1)
    queries = read_jsonl(tmp_path / "q.jsonl")
    types = Counter(q["type"] for q in queries)
    assert set(types) == {"keywords", "question", "sentence"}
    assert summary["queries"] == len(queries) == 120
    assert all(q["backend"] == "extractive" and q["chunk_id"].endswith("#0") for q in queries)


def test_mix_zero_weight_excludes_a_type(chunks_file, tmp_path):
    cfg = GenerateQueriesConfig(mix={"keywords": 1, "question": 0, "sentence": 0})
    generate_queries.run(cfg, chunks_file, tmp_path / "q.jsonl", seed=1)
    queries = read_jsonl(tmp_path / "q.jsonl")
    assert {q["type"] for q in queries} == {"keywords"}
    for q in queries:
        assert 2 <= len(q["text"].split()) <= 4


def test_query_shapes(chunks_file, tmp_path):
    cfg = GenerateQueriesConfig(queries_per_chunk=3)
    generate_queries.run(cfg, chunks_file, tmp_path / "q.jsonl", seed=3)
    chunks = {c["id"]: c for c in read_jsonl(chunks_file)}
    for q in read_jsonl(tmp_path / "q.jsonl"):
        if q["type"] == "question":
            assert q["text"].endswith("?")
        if q["type"] == "sentence":
            assert q["text"] in chunks[q["chunk_id"]]["text"]
        if q["type"] == "keywords":
            assert all(w in chunks[q["chunk_id"]]["text"].lower() for w in q["text"].split())


def test_same_seed_same_queries_other_seed_differs(chunks_file, tmp_path):
    cfg = GenerateQueriesConfig(queries_per_chunk=2)
    generate_queries.run(cfg, chunks_file, tmp_path / "a.jsonl", seed=7)
    generate_queries.run(cfg, chunks_file, tmp_path / "b.jsonl", seed=7)
    generate_queries.run(cfg, chunks_file, tmp_path / "c.jsonl", seed=8)
    a, b, c = ((tmp_path / n).read_bytes() for n in ("a.jsonl", "b.jsonl", "c.jsonl"))
    assert a == b and a != c


def test_empty_chunks_file(tmp_path):
    (tmp_path / "chunks.jsonl").write_text("")
    with pytest.raises(InputError, match="no chunks"):
        generate_queries.run(GenerateQueriesConfig(), tmp_path / "chunks.jsonl", tmp_path / "q.jsonl", 1)
