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
