"""Engine exports read back and rank like the in-process index.

The Anserini collection is scored as Lucene's impact search scores pre-tokenized queries: each
query token repeated round(100 x weight) times, so a score is the integer dot product of query
and document impacts. Wherever two chunks' float scores differ by more than the rounding can
move them, the integer ranking must keep their order; the top 10 must be (nearly) the same set.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spladeforge.config import Params
from spladeforge.retrieval.engine_export import ANSERINI_FILE, FIELD, QUANTIZATION, export_index, quantize
from spladeforge.retrieval.searchers import open_searcher
from spladeforge.text import passage
from tests.conftest import gate_corpus
from tests.retrieval.conftest import write_chunks

pytestmark = pytest.mark.slow  # loads models


@pytest.fixture(scope="module")
def gate_chunks(tmp_path_factory) -> tuple[Path, list[str]]:
    corpus, queries = gate_corpus()  # 40 chunks, 24 queries
    path = write_chunks(tmp_path_factory.mktemp("chunks") / "chunks.jsonl", corpus=corpus)
    return path, [text for text, _ in queries.values()]


@pytest.fixture(scope="module")
def searcher(gate_chunks, _saved_model_dir, tmp_path_factory):
    return open_searcher("model", gate_chunks[0], model_dir=_saved_model_dir,
                         cache_dir=tmp_path_factory.mktemp("cache"), params=Params())


def _query_weights(searcher, query: str) -> dict[str, float]:
    vector = searcher.query_vector(query)
    return dict(zip(searcher.token_names(vector.indices.tolist()), vector.data.tolist(), strict=True))


def _rank(docs: dict[str, dict[str, float]], query: dict[str, float]) -> dict[str, float]:
    return {doc_id: sum(w * vector.get(t, 0) for t, w in query.items()) for doc_id, vector in docs.items()}


def _rounding_bound(doc: dict[str, float], query: dict[str, float]) -> float:
    """How far rounding both sides to 1/100 can move a float score (in float units)."""
    half = 0.5 / QUANTIZATION
    return sum(half * (query[t] + w) + half * half for t, w in doc.items() if t in query)


def check_same_ranking(searcher, exported: dict[str, dict[str, float]], queries: list[str], scale: float) -> None:
    floats = {record["id"]: dict(zip(*_doc(searcher, record["id"]), strict=True)) for record in searcher.chunks.records}
    for query in queries:
        q_float = _query_weights(searcher, query)
        q_used = {t: v for t, v in quantize(q_float).items()} if scale != 1 else q_float
        engine = _rank(exported, q_used)
        in_process = searcher.search(query, k=10)
        engine_top = sorted(engine, key=lambda d: (-engine[d], d))[:len(in_process)]
        overlap = len({h.chunk_id for h in in_process} & set(engine_top)) / len(in_process)
        assert overlap >= 0.9, (query, overlap)
        for a, b in zip(in_process, in_process[1:], strict=False):
            bound = (_rounding_bound(floats[a.chunk_id], q_float) + _rounding_bound(floats[b.chunk_id], q_float)
                     if scale != 1 else 1e-4)
            if a.score - b.score > bound:
                assert engine[a.chunk_id] > engine[b.chunk_id], (query, a, b)


def _doc(searcher, chunk_id: str):
    vector = searcher.document_vector(chunk_id)
    return searcher.token_names(vector.indices.tolist()), vector.data.tolist()


def test_anserini_collection_ranks_like_the_index(searcher, gate_chunks, tmp_path):
    files = export_index(searcher, "anserini", tmp_path / "anserini")
    assert files == [ANSERINI_FILE, "query_side.json"]
    lines = [json.loads(line) for line in (tmp_path / "anserini" / ANSERINI_FILE).read_text().splitlines()]
    assert [line["id"] for line in lines] == searcher.chunks.ids
    assert lines[0]["contents"] == passage(searcher.chunks.records[0])
    for line in lines:
        assert line["vector"] and all(isinstance(v, int) and v > 0 for v in line["vector"].values())
    tokens, weights = _doc(searcher, lines[0]["id"])
    assert lines[0]["vector"] == {t: round(w * 100) for t, w in zip(tokens, weights, strict=True) if round(w * 100)}
    check_same_ranking(searcher, {line["id"]: line["vector"] for line in lines}, gate_chunks[1], QUANTIZATION)
    side = json.loads((tmp_path / "anserini" / "query_side.json").read_text())
    assert side["quantization_factor"] == 100 and side["encoder"] == "sentence-transformers SparseEncoder"
    assert Path(side["model"]).is_dir()


def test_opensearch_bulk_ranks_like_the_index(searcher, gate_chunks, tmp_path):
    export_index(searcher, "opensearch", tmp_path / "os")
    lines = (tmp_path / "os" / "bulk.ndjson").read_text().splitlines()
    actions, docs = [json.loads(x) for x in lines[::2]], [json.loads(x) for x in lines[1::2]]
    assert [a["index"]["_id"] for a in actions] == [d["id"] for d in docs] == searcher.chunks.ids
    assert set(docs[0]) == {"id", "title", "text", FIELD}
    mapping = json.loads((tmp_path / "os" / "mapping.json").read_text())
    assert mapping["mappings"]["properties"][FIELD] == {"type": "rank_features"}
    assert all(v > 0 for d in docs for v in d[FIELD].values())
    check_same_ranking(searcher, {d["id"]: d[FIELD] for d in docs}, gate_chunks[1], 1)


def test_an_inference_free_model_exports_its_query_token_table(gate_chunks, tmp_path):
    from spladeforge.models.static_query import read_query_weights
    from tests.architecture_models import save_untrained

    folder = save_untrained("inference-free", tmp_path / "if")
    searcher = open_searcher(str(folder), gate_chunks[0], cache_dir=tmp_path / "cache", params=Params())
    assert searcher.inference_free
    files = export_index(searcher, "opensearch", tmp_path / "os")
    assert "idf.json" in files
    side = json.loads((tmp_path / "os" / "query_side.json").read_text())
    assert side["encoder"] == "token-weight table" and side["query_weights"] == "idf.json"
    table = read_query_weights(tmp_path / "os" / "idf.json", searcher.model.tokenizer)
    query = gate_chunks[1][0]
    ids = sorted(set(searcher.model.tokenizer(query, add_special_tokens=False)["input_ids"]))
    expected = {i: table[i] for i in ids if table[i] != 0}
    vector = searcher.query_vector(query)
    assert dict(zip(vector.indices.tolist(), vector.data.tolist(), strict=True)) == pytest.approx(expected, abs=1e-6)


def test_nothing_is_written_when_the_export_fails(searcher, tmp_path, monkeypatch):
    from spladeforge.retrieval import engine_export

    def broken(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(engine_export, "_query_side", broken)
    with pytest.raises(OSError):
        export_index(searcher, "anserini", tmp_path / "out")
    assert list(tmp_path.iterdir()) == []
