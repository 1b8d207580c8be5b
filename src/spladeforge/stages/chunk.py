"""chunk: cut `documents.jsonl` into `chunks.jsonl` (id, doc_id, title, section, text, start).

The algorithm lives in `spladeforge.chunking`: overlapping character windows ending at paragraph,
sentence or word boundaries (`chunking.window`), or with `chunk.mode: semantic` cuts where the
topic changes (`chunking.semantic`, which loads a sentence encoder once here); each chunk carries
its document title and Markdown section path (`chunking.document`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tqdm import tqdm

from spladeforge.chunking import chunk_document, load_model
from spladeforge.config import ChunkConfig
from spladeforge.errors import InputError
from spladeforge.io import iter_jsonl, write_jsonl


def run(cfg: ChunkConfig, documents: Path, output: Path) -> dict[str, Any]:
    model = load_model(cfg) if cfg.mode == "semantic" else None
    chunks: list[dict[str, Any]] = []
    docs = 0
    for doc in tqdm(iter_jsonl(documents, required=("id", "text")), desc="chunk", unit=" docs"):
        docs += 1
        chunks.extend(chunk_document(doc, cfg, model))
    if not chunks:
        raise InputError(f"{documents}: no chunks produced (is the file empty?)")
    lengths = sorted(len(c["text"]) for c in chunks)
    write_jsonl(output, chunks)
    return {
        "documents": docs,
        "chunks": len(chunks),
        "median_chars": lengths[len(lengths) // 2],
        "max_chars": lengths[-1],
        "mode": cfg.mode,
        "output": str(output),
    }
