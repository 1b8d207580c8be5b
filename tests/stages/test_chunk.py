"""chunk respects size, overlap and natural boundaries, and carries title and section."""

from __future__ import annotations

import json

import pytest

from spladeforge.config import ChunkConfig
from spladeforge.errors import InputError
from spladeforge.io import read_jsonl
from spladeforge.stages import chunk

SENTENCE = "The tokenizer splits text into word pieces before encoding them. "


def _doc(text: str, **extra) -> dict:
    return {"id": "doc", "title": "Doc", "text": text, **extra}


def test_windows_respect_size_overlap_and_cover_the_text():
    cfg = ChunkConfig(size=500, overlap=75)
    text = SENTENCE * 40
    chunks = chunk.chunk_document(_doc(text), cfg)
    assert len(chunks) > 4
    assert all(len(c["text"]) <= 500 for c in chunks)
    for a, b in zip(chunks, chunks[1:], strict=False):
        a_end = a["start"] + len(a["text"])
        assert b["start"] < a_end, "consecutive chunks must overlap"
        assert a_end - b["start"] <= 75 + 1
    assert chunks[-1]["start"] + len(chunks[-1]["text"]) == len(text.strip())


def test_cuts_at_sentence_ends_and_never_inside_a_word():
    cfg = ChunkConfig(size=500, overlap=75)
    chunks = chunk.chunk_document(_doc(SENTENCE * 40), cfg)
    for c in chunks[:-1]:
        assert c["text"].endswith("."), c["text"][-30:]
    for c in chunks[1:]:
        assert c["text"].split()[0] in SENTENCE.split()


def test_prefers_paragraph_breaks():
    para = ("Alpha beta gamma delta. " * 14).strip()
    text = "\n\n".join([para] * 6)
    chunks = chunk.chunk_document(_doc(text), ChunkConfig(size=800, overlap=100))
    assert all(c["text"].endswith("delta.") for c in chunks)


def test_section_path_and_stable_ids():
    text = "# Guide\n\nIntro text. " + "Filler words here. " * 30 + "\n\n## Install\n\n" + "Run the installer. " * 60
    cfg = ChunkConfig(size=500, overlap=75)
    first = chunk.chunk_document(_doc(text), cfg)
    assert first[0]["section"] == "Guide"
    assert first[-1]["section"] == "Guide > Install"
    assert [c["id"] for c in first] == [f"doc#{i}" for i in range(len(first))]
    assert first == chunk.chunk_document(_doc(text), cfg)
    assert all(c["title"] == "Doc" and c["doc_id"] == "doc" for c in first)


def test_short_tail_joins_previous_chunk():
    spans = chunk.spans("x " * 540, size=500, overlap=50, min_chars=100)
    assert spans[-1][1] == 1080
    assert all(end - start >= 100 for start, end in spans)


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
    from spladeforge.semantic_chunking import load_model

    return load_model(ChunkConfig(mode="semantic"))


def test_sentence_spans_keep_offsets():
    text = "# Title\nFirst sentence here. Second (with a quote.\") Third!\n\nNew paragraph"
    from spladeforge.semantic_chunking import sentence_spans

    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "# Title", "First sentence here.", "Second (with a quote.\")", "Third!", "New paragraph"]


@pytest.mark.slow
def test_semantic_mode_cuts_at_the_topic_change(minilm):
    text = " ".join(GZIP + SQL)
    cfg = ChunkConfig(size=1000, overlap=150, mode="semantic", semantic_percentile=10)
    chunks = chunk.chunk_document(_doc(text), cfg, minilm)
    assert [c["text"] for c in chunks] == [" ".join(GZIP), " ".join(SQL)]
    assert chunks[1]["start"] == text.index(SQL[0])
    # The window mode on the same text ignores the topic change: it makes one chunk.
    assert len(chunk.chunk_document(_doc(text), ChunkConfig(size=1000, overlap=150))) == 1


@pytest.mark.slow
def test_semantic_mode_respects_size_bounds_and_headings(minilm, tmp_path):
    text = "# Gzip\n\n" + " ".join(GZIP * 3) + "\n\n## SQL\n\n" + " ".join(SQL * 3) + " " + "x" * 1200 + "."
    cfg = ChunkConfig(size=500, overlap=75, min_chars=100, mode="semantic", semantic_threshold=-1.0)
    chunks = chunk.chunk_document(_doc(text), cfg, minilm)
    assert all(len(c["text"]) <= 500 for c in chunks)
    assert all(len(c["text"]) >= 100 for c in chunks[:-1])
    assert any(c["text"].startswith("## SQL") and c["section"] == "Gzip > SQL" for c in chunks)
    docs = tmp_path / "documents.jsonl"
    docs.write_text(json.dumps(_doc(text)) + "\n")
    summary = chunk.run(cfg, docs, tmp_path / "chunks.jsonl")
    assert summary["mode"] == "semantic" and summary["max_chars"] <= 500


@pytest.mark.parametrize("words", [104, 203])
def test_short_tail_merge_with_two_or_three_windows(words):
    """Regression: the merge assigned to out[-2] after pop(), crashing on two windows."""
    text = "word " * words
    got = chunk.spans(text, size=500, overlap=75, min_chars=100)
    assert got[0][0] == 0 and got[-1][1] >= len(text.rstrip())
    assert all(a[0] < b[0] for a, b in zip(got, got[1:], strict=False))
