"""A document's chunks carry its title and the heading path in effect, under stable ids."""

from __future__ import annotations

from spladeforge.chunking import chunk_document
from spladeforge.config import ChunkConfig


def _doc(text: str, **extra) -> dict:
    return {"id": "doc", "title": "Doc", "text": text, **extra}


def test_section_path_and_stable_ids():
    text = "# Guide\n\nIntro text. " + "Filler words here. " * 30 + "\n\n## Install\n\n" + "Run the installer. " * 60
    cfg = ChunkConfig(size=500, overlap=75)
    first = chunk_document(_doc(text), cfg)
    assert first[0]["section"] == "Guide"
    assert first[-1]["section"] == "Guide > Install"
    assert [c["id"] for c in first] == [f"doc#{i}" for i in range(len(first))]
    assert first == chunk_document(_doc(text), cfg)
    assert all(c["title"] == "Doc" and c["doc_id"] == "doc" for c in first)
