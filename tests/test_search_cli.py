"""`spladeforge search` and `spladeforge index` through the real entry point, in a project folder
laid out as the default run leaves it (data/chunks.jsonl, models/splade)."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
from sentence_transformers.sparse_encoder import SparseEncoder

from spladeforge import cli
from tests.retrieval.conftest import LONG_TEXT, write_chunks

pytestmark = pytest.mark.slow  # loads the model in each call


def run_cli(capsys, monkeypatch, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["spladeforge", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    captured = capsys.readouterr()
    code = exit_info.value.code if isinstance(exit_info.value.code, int) else 0 if exit_info.value.code is None else 1
    return code, captured.out, captured.err


@pytest.fixture()
def project(tmp_path, monkeypatch, _saved_model_dir):
    (tmp_path / "data").mkdir()
    write_chunks(tmp_path / "data" / "chunks.jsonl", extra={"log#0": ("logging", LONG_TEXT)})
    shutil.copytree(_saved_model_dir, tmp_path / "models" / "splade")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


@pytest.fixture()
def encodes(monkeypatch) -> list[int]:
    calls = []
    original = SparseEncoder.encode_document

    def counted(self, texts, *args, **kwargs):
        calls.append(len(texts))
        return original(self, texts, *args, **kwargs)

    monkeypatch.setattr(SparseEncoder, "encode_document", counted)
    return calls


def test_search_prints_hits_with_their_terms_and_reuses_the_index(project, capsys, monkeypatch, encodes):
    code, out, _ = run_cli(capsys, monkeypatch, "search", "compress a file with gzip", "--k", "3")
    assert code == 0
    assert "model (sparse, index built): 3 hit(s)" in out
    assert " 1. d2#0  gzip / Overview  score " in out
    assert "The gzip module compresses" in out and "terms: " in out
    assert "* marks an expansion term" in out
    assert encodes == [7]
    code, again, _ = run_cli(capsys, monkeypatch, "search", "compress a file with gzip", "--k", "3")
    assert code == 0 and "index cached" in again and encodes == [7]  # answered without encoding
    assert (project / ".spladeforge" / "index").is_dir()


def test_json_output_for_scripts(project, capsys, monkeypatch):
    code, out, _ = run_cli(capsys, monkeypatch, "search", "decode json text", "--json", "--k", "2",
                           "--compare", "bm25")
    assert code == 0
    result = json.loads(out)
    assert result["query"] == "decode json text" and result["k"] == 2
    model, bm25 = result["systems"]
    assert (model["system"], model["kind"], model["dimensions"], model["query_side"]) == \
        ("model", "sparse", "tokens", "encoder")
    hit = model["hits"][0]
    assert set(hit) == {"rank", "chunk_id", "score", "title", "section", "doc_id", "snippet", "terms"}
    assert hit["chunk_id"] == "d1#0" and hit["rank"] == 1 and hit["doc_id"] == "d1"
    assert set(hit["terms"][0]) == {"token", "query_weight", "doc_weight", "contribution", "expansion"}
    assert bm25["system"] == "bm25" and bm25["hits"][0]["terms"] == [] and "dimensions" not in bm25


def test_compare_prints_systems_side_by_side(project, capsys, monkeypatch):
    code, out, _ = run_cli(capsys, monkeypatch, "search", "tcp network connection", "--k", "2",
                           "--compare", "bm25,base")
    assert code == 0
    header = next(line for line in out.splitlines() if "model (sparse)" in line)
    assert header.index("model (sparse)") < header.index("bm25 (bm25)") < header.index("base (sparse)")
    first = next(line for line in out.splitlines() if line.strip("│ ").startswith("1 "))
    assert first.count("d4#0") == 3  # every system ranks the socket chunk first


def test_index_exports_anserini_and_refuses_to_overwrite(project, capsys, monkeypatch):
    code, out, _ = run_cli(capsys, monkeypatch, "index", "--export", "anserini", "--output", "engine")
    assert code == 0 and "anserini: wrote collection/docs.jsonl, query_side.json to engine" in out
    assert len((project / "engine" / "collection" / "docs.jsonl").read_text().splitlines()) == 7
    code, _, err = run_cli(capsys, monkeypatch, "index", "--export", "anserini", "--output", "engine")
    assert code == 2 and "already exists" in err


@pytest.mark.parametrize(("args", "message"), [
    (["search", "  "], "empty query"),
    (["search", "gzip", "--chunks", "absent.jsonl"], "absent.jsonl: chunks file not found"),
    (["search", "gzip", "--model", "int8"], "no INT8 ONNX export here"),
    (["index", "--export", "solr", "--output", "x"], "--export solr: unknown format (accepted: anserini, opensearch)"),
    (["index", "--export", "opensearch"], "needs --output DIR"),
    (["index", "--model", "bm25"], "only a sparse system has document vectors"),
])
def test_bad_input_exits_2_with_a_message(project, capsys, monkeypatch, args, message):
    code, out, err = run_cli(capsys, monkeypatch, *args)
    assert code == 2 and message in err, err
    assert not (project / "x").exists()


def test_without_a_trained_model_the_user_is_told_how_to_get_one(project, capsys, monkeypatch):
    shutil.rmtree(project / "models")
    code, _, err = run_cli(capsys, monkeypatch, "search", "gzip")
    assert code == 2
    assert "models/splade: no trained model here (train one with `dvc repro`, or pass --model" in err
