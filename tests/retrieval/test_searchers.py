"""open_searcher: every system name ranks the chunks; sparse and dense document vectors are encoded once.

The model is the built-in BERT-tiny SPLADE saved as a trained folder (tests/conftest.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sentence_transformers import SentenceTransformer
from sentence_transformers.sparse_encoder import SparseEncoder

from spladeforge.config import Params
from spladeforge.errors import InputError
from spladeforge.retrieval.index_cache import entry_dir
from spladeforge.retrieval.searchers import Hit, open_searcher

pytestmark = pytest.mark.slow  # loads models (a few seconds each)


@pytest.fixture()
def encode_calls(monkeypatch) -> dict[str, int]:
    """Counts document-encoding calls of every SparseEncoder and SentenceTransformer."""
    calls = {"sparse": 0, "dense": 0}
    sparse_encode, dense_encode = SparseEncoder.encode_document, SentenceTransformer.encode

    def sparse(self, *args, **kwargs):
        calls["sparse"] += 1
        return sparse_encode(self, *args, **kwargs)

    def dense(self, texts, *args, **kwargs):
        calls["dense"] += len(texts) > 1  # the corpus, not a query
        return dense_encode(self, texts, *args, **kwargs)

    monkeypatch.setattr(SparseEncoder, "encode_document", sparse)
    monkeypatch.setattr(SentenceTransformer, "encode", dense)
    return calls


def test_second_search_reads_the_cached_index_without_encoding(model_dir, chunks_path, tmp_path, encode_calls):
    cache = tmp_path / "cache"
    first = open_searcher("model", chunks_path, model_dir=model_dir, cache_dir=cache, params=Params())
    assert first.built and encode_calls["sparse"] == 1
    hits = first.search("compress a file with gzip", k=3)
    assert [h.rank for h in hits] == [1, 2, 3] and hits[0].chunk_id == "d2#0"
    assert hits[0].score >= hits[1].score >= hits[2].score > 0

    second = open_searcher("model", chunks_path, model_dir=model_dir, cache_dir=cache, params=Params())
    assert not second.built and encode_calls["sparse"] == 1  # no re-encoding
    assert second.search("compress a file with gzip", k=3) == hits
    [entry] = list(cache.iterdir())
    meta = json.loads((entry / "meta.json").read_text())
    assert meta["chunks"] == 7 and meta["system"] == "model"
    assert entry == entry_dir(cache, meta["model_key"], meta["corpus_sha256"])


def test_an_edited_corpus_or_model_is_encoded_again(model_dir, chunks_path, tmp_path, encode_calls):
    cache = tmp_path / "cache"
    open_searcher("model", chunks_path, model_dir=model_dir, cache_dir=cache, params=Params())
    with open(chunks_path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "new#0", "doc_id": "new", "title": "csv", "section": "",
                             "text": "The csv module reads and writes comma-separated values."}) + "\n")
    edited = open_searcher("model", chunks_path, model_dir=model_dir, cache_dir=cache, params=Params())
    assert edited.built and encode_calls["sparse"] == 2
    assert edited.search("comma-separated values", k=1)[0].chunk_id == "new#0"
    sidecar = model_dir / "spladeforge.json"
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "max_seq_length": 64}))
    retrained = open_searcher("model", chunks_path, model_dir=model_dir, cache_dir=cache, params=Params())
    assert retrained.built and encode_calls["sparse"] == 3
    assert len(list(cache.iterdir())) == 3


def test_bm25_dense_base_and_a_folder_each_rank_the_chunks(model_dir, chunks_path, tmp_path, encode_calls):
    cache = tmp_path / "cache"
    for name in ("bm25", "dense", "base", str(model_dir), "builtin:splade-tiny"):
        searcher = open_searcher(name, chunks_path, model_dir=model_dir, cache_dir=cache, params=Params())
        hits = searcher.search("sql database in a single file", k=2)
        assert hits and all(isinstance(h, Hit) for h in hits), name
        assert hits[0].chunk_id == "d3#0", name
    assert searcher.name == "builtin:splade-tiny"
    dense_again = open_searcher("dense", chunks_path, model_dir=model_dir, cache_dir=cache, params=Params())
    assert not dense_again.built and encode_calls["dense"] == 1


def test_bm25_leaves_out_chunks_that_share_no_word(chunks_path):
    searcher = open_searcher("bm25", chunks_path, params=Params())
    hits = searcher.search("gzip", k=10)
    assert [h.chunk_id for h in hits] == ["d2#0", "log#0"]


def test_int8_export_is_searched_through_onnxruntime(base_model, model_dir, chunks_path, tmp_path):
    from spladeforge.models.int8 import export_int8

    int8_dir = tmp_path / "splade-int8"
    export_int8(base_model, int8_dir, ["gzip compresses files"], opset=17, per_channel=True)
    int8 = open_searcher("int8", chunks_path, int8_dir=int8_dir, cache_dir=tmp_path / "cache", params=Params())
    fp32 = open_searcher("model", chunks_path, model_dir=model_dir, cache_dir=tmp_path / "cache", params=Params())
    query = "tcp network connection"
    assert [h.chunk_id for h in int8.search(query, 3)][:1] == [h.chunk_id for h in fp32.search(query, 3)][:1]
    assert open_searcher(str(int8_dir), chunks_path, cache_dir=tmp_path / "cache", params=Params()).built is False


@pytest.mark.parametrize(("name", "expected"), [
    ("model", "no trained model here (train one with `dvc repro`"),
    ("int8", "no INT8 ONNX export here"),
    ("champion", "does not exist, so there is no registry"),
    ("no/such/folder", "no such folder"),
])
def test_a_missing_system_is_named(name, expected, chunks_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(InputError) as info:
        open_searcher(name, chunks_path, model_dir=tmp_path / "models/splade", int8_dir=tmp_path / "int8",
                      params=Params())
    assert expected in str(info.value)


def test_empty_query_and_missing_chunks_are_input_errors(chunks_path, tmp_path):
    with pytest.raises(InputError, match="chunks file not found"):
        open_searcher("bm25", tmp_path / "absent.jsonl", params=Params())
    with pytest.raises(InputError, match="empty query"):
        open_searcher("bm25", chunks_path, params=Params()).search("   ")


def test_duplicate_chunk_ids_are_refused(tmp_path):
    path = tmp_path / "chunks.jsonl"
    path.write_text('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n')
    with pytest.raises(InputError, match=r"chunks.jsonl:2: duplicate chunk id 'a'"):
        open_searcher("bm25", path, params=Params())


def _register_champion(tmp_path: Path, model_dir: Path, name: str) -> str:
    import importlib.util

    import mlflow
    from mlflow import MlflowClient

    from spladeforge.registry import pyfunc
    from spladeforge.registry.champion import move_champion

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("search", artifact_location=(tmp_path / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.pyfunc.log_model(name="model", python_model=importlib.util.find_spec(pyfunc.__name__).origin,
                                       artifacts={pyfunc.MODEL_ARTIFACT: str(model_dir)}, pip_requirements=["mlflow"])
    version = mlflow.register_model(info.model_uri, name).version
    move_champion(MlflowClient(), name, str(version), action="promote", reason="test")
    mlflow.set_tracking_uri(None)
    return uri


def test_champion_is_downloaded_from_the_registry(model_dir, chunks_path, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = _register_champion(tmp_path, model_dir, "m")
    params = Params.model_validate({"register": {"tracking_uri": uri, "model_name": "m"}})
    champion = open_searcher("champion", chunks_path, cache_dir=tmp_path / "cache", params=params)
    assert champion.name == "champion" and "champion v1 of m" in champion.model.source
    # The same model bytes as the folder: the same index entry, read back.
    assert open_searcher(str(model_dir), chunks_path, cache_dir=tmp_path / "cache", params=params).built is False
    assert champion.search("decode json text", 1)[0].chunk_id == "d1#0"
    other = Params.model_validate({"register": {"tracking_uri": uri, "model_name": "none-yet"}})
    with pytest.raises(InputError, match="'none-yet' has no champion version"):
        open_searcher("champion", chunks_path, cache_dir=tmp_path / "cache", params=other)
