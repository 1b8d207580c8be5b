"""A chunks.jsonl in the chunk stage's format, from the shared tiny corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import TINY_CORPUS

# A chunk long enough that a snippet has to choose a window.
LONG_TEXT = ("The logging module records events. " * 8 + "Use gzip.open to compress a log file after rotation. "
             + "Handlers write records to streams. " * 8)


def write_chunks(path: Path, corpus=TINY_CORPUS, extra: dict[str, tuple[str, str]] | None = None) -> Path:
    """One line per chunk: id, doc_id, title, section, text, start."""
    rows = {**{f"{doc_id}#0": (title, text) for doc_id, (title, text) in corpus.items()}, **(extra or {})}
    with open(path, "w", encoding="utf-8") as fh:
        for chunk_id, (title, text) in rows.items():
            fh.write(json.dumps({"id": chunk_id, "doc_id": chunk_id.split("#")[0], "title": title,
                                 "section": "Overview", "text": text, "start": 0}) + "\n")
    return path


@pytest.fixture()
def chunks_path(tmp_path) -> Path:
    return write_chunks(tmp_path / "chunks.jsonl", extra={"log#0": ("logging", LONG_TEXT)})
