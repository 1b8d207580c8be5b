"""Windows respect size, overlap and natural boundaries, and a short tail joins its predecessor."""

from __future__ import annotations

import pytest

from spladeforge.chunking import chunk_document, spans
from spladeforge.config import ChunkConfig

SENTENCE = "The tokenizer splits text into word pieces before encoding them. "


def _doc(text: str, **extra) -> dict:
    return {"id": "doc", "title": "Doc", "text": text, **extra}


def test_windows_respect_size_overlap_and_cover_the_text():
    cfg = ChunkConfig(size=500, overlap=75)
    text = SENTENCE * 40
    chunks = chunk_document(_doc(text), cfg)
    assert len(chunks) > 4
    assert all(len(c["text"]) <= 500 for c in chunks)
    for a, b in zip(chunks, chunks[1:], strict=False):
        a_end = a["start"] + len(a["text"])
        assert b["start"] < a_end, "consecutive chunks must overlap"
        assert a_end - b["start"] <= 75 + 1
    assert chunks[-1]["start"] + len(chunks[-1]["text"]) == len(text.strip())


def test_cuts_at_sentence_ends_and_never_inside_a_word():
    cfg = ChunkConfig(size=500, overlap=75)
    chunks = chunk_document(_doc(SENTENCE * 40), cfg)
    for c in chunks[:-1]:
        assert c["text"].endswith("."), c["text"][-30:]
    for c in chunks[1:]:
        assert c["text"].split()[0] in SENTENCE.split()


def test_prefers_paragraph_breaks():
    para = ("Alpha beta gamma delta. " * 14).strip()
    text = "\n\n".join([para] * 6)
    chunks = chunk_document(_doc(text), ChunkConfig(size=800, overlap=100))
    assert all(c["text"].endswith("delta.") for c in chunks)


def test_short_tail_joins_previous_chunk():
    got = spans("x " * 540, size=500, overlap=50, min_chars=100)
    assert got[-1][1] == 1080
    assert all(end - start >= 100 for start, end in got)


@pytest.mark.parametrize("words", [104, 203])
def test_short_tail_merge_with_two_or_three_windows(words):
    """Regression: the merge assigned to out[-2] after pop(), crashing on two windows."""
    text = "word " * words
    got = spans(text, size=500, overlap=75, min_chars=100)
    assert got[0][0] == 0 and got[-1][1] >= len(text.rstrip())
    assert all(a[0] < b[0] for a, b in zip(got, got[1:], strict=False))
