"""chunk writes every document's chunks, refuses empty input, and cuts at topic changes in semantic mode.

The window and section-path rules are tested with the package, in tests/chunking/.
"""

from __future__ import annotations

import json

import pytest

from spladeforge.chunking import chunk_document, load_model
from spladeforge.config import ChunkConfig
from spladeforge.errors import InputError
from spladeforge.io import read_jsonl
from spladeforge.stages import chunk

SENTENCE = "The tokenizer splits text into word pieces before encoding them. "


def _doc(text: str, **extra) -> dict:
    return {"id": "doc", "title": "Doc", "text": text, **extra}


def test_run_writes_chunks_and_rejects_empty_input(tmp_path):
    docs = tmp_path / "documents.jsonl"
    docs.write_text(json.dumps(_doc(SENTENCE * 30)) + "\n")
    summary = chunk.run(ChunkConfig(), docs, tmp_path / "chunks.jsonl")
    assert summary["chunks"] == len(read_jsonl(tmp_path / "chunks.jsonl")) >= 2
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(InputError, match="empty.jsonl: no chunks"):
        chunk.run(ChunkConfig(), empty, tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


GZIP = ["The gzip module compresses files with the DEFLATE algorithm.",
        "Compression levels trade speed for smaller gzip archives.",
        "Decompressing a gzip stream restores the original bytes exactly.",
        "The GNU gzip program reads the same compressed file format.",
        "Large archives can be decompressed incrementally in blocks."]
SQL = ["The sqlite3 module stores relational tables in a single database file.",
       "SQL statements insert, update and select rows from those tables.",
       "A cursor executes each query and fetches the resulting rows.",
       "Transactions commit or roll back groups of database changes.",
       "Indexes make lookups on large tables faster for every query."]


@pytest.fixture(scope="module")
def minilm():
    return load_model(ChunkConfig(mode="semantic"))


@pytest.mark.slow
def test_semantic_mode_cuts_at_the_topic_change(minilm):
    text = " ".join(GZIP + SQL)
    cfg = ChunkConfig(size=1000, overlap=150, mode="semantic", semantic_percentile=10)
    chunks = chunk_document(_doc(text), cfg, minilm)
    assert [c["text"] for c in chunks] == [" ".join(GZIP), " ".join(SQL)]
    assert chunks[1]["start"] == text.index(SQL[0])
    # The window mode on the same text ignores the topic change: it makes one chunk.
    assert len(chunk_document(_doc(text), ChunkConfig(size=1000, overlap=150))) == 1


@pytest.mark.slow
def test_semantic_mode_respects_size_bounds_and_headings(minilm, tmp_path):
    text = "# Gzip\n\n" + " ".join(GZIP * 3) + "\n\n## SQL\n\n" + " ".join(SQL * 3) + " " + "x" * 1200 + "."
    cfg = ChunkConfig(size=500, overlap=75, min_chars=100, mode="semantic", semantic_threshold=-1.0)
    chunks = chunk_document(_doc(text), cfg, minilm)
    assert all(len(c["text"]) <= 500 for c in chunks)
    assert all(len(c["text"]) >= 100 for c in chunks[:-1])
    assert any(c["text"].startswith("## SQL") and c["section"] == "Gzip > SQL" for c in chunks)
    docs = tmp_path / "documents.jsonl"
    docs.write_text(json.dumps(_doc(text)) + "\n")
    summary = chunk.run(cfg, docs, tmp_path / "chunks.jsonl")
    assert summary["mode"] == "semantic" and summary["max_chars"] <= 500
