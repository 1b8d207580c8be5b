"""chunk: cut documents into overlapping character windows at natural boundaries.

Seed 000: 500-2000 characters with 10-20% overlap; too small loses context, too large dilutes
relevance. A window ends at the last paragraph break in its second half, else the last
sentence end, else the last space; the next one starts `overlap` characters earlier, moved
forward to a word start. Each chunk carries its document title and the Markdown heading path
in effect where it starts. Chunk ids are `<doc id>#<index>`: stable while the document is.
`chunk.mode: semantic` cuts at topic changes instead (`spladeforge.semantic_chunking`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tqdm import tqdm

from spladeforge.config import ChunkConfig
from spladeforge.errors import InputError
from spladeforge.io import iter_jsonl, write_jsonl

_HEADING = re.compile(r"^(#{1,6})\s+(.+)$", re.MULTILINE)
_SENTENCE_END = re.compile(r"[.!?:;][)\"']?\s")


def _cut(text: str, start: int, limit: int) -> int:
    """Best end in (start, limit]: paragraph, then sentence, then word boundary in the 2nd half."""
    floor = start + (limit - start) // 2
    window = text[floor:limit]
    para = window.rfind("\n\n")
    if para >= 0:
        return floor + para
    sentences = list(_SENTENCE_END.finditer(window))
    if sentences:
        return floor + sentences[-1].end() - 1
    space = max(window.rfind(" "), window.rfind("\n"))
    return floor + space if space >= 0 else limit


def spans(text: str, size: int, overlap: int, min_chars: int) -> list[tuple[int, int]]:
    """Character spans [start, end) covering `text` with the configured size and overlap."""
    out: list[tuple[int, int]] = []
    start, n = 0, len(text)
    while start < n:
        end = n if n - start <= size else _cut(text, start, start + size)
        out.append((start, end))
        if end >= n:
            break
        nxt = end - overlap
        while nxt < end and not (text[nxt - 1].isspace() and not text[nxt].isspace()):
            nxt += 1  # start on a word, never in the middle of one
        start = nxt if nxt < end else end
        while start < n and text[start].isspace():
            start += 1
    if len(out) > 1 and out[-1][1] - out[-1][0] < min_chars:
        tail = out.pop()
        out[-1] = (out[-1][0], tail[1])  # a short tail joins its predecessor
    return out


def _section_path(headings: list[tuple[int, int, str]], pos: int) -> str:
    """The heading path (`A > B`) in effect at character `pos`."""
    path: list[tuple[int, str]] = []
    for start, level, title in headings:
        if start > pos:
            break
        path = [p for p in path if p[0] < level] + [(level, title)]
    return " > ".join(title for _, title in path)


def chunk_document(doc: dict[str, Any], cfg: ChunkConfig, model: Any = None) -> list[dict[str, Any]]:
    """Chunks of one document; `model` (a dense encoder) is needed for `mode: semantic`."""
    text = doc["text"]
    headings = [(m.start(), len(m.group(1)), m.group(2).strip()) for m in _HEADING.finditer(text)]
    if cfg.mode == "semantic":
        from spladeforge.semantic_chunking import semantic_spans

        cut = semantic_spans(text, cfg, model)
    else:
        cut = spans(text, cfg.size, cfg.overlap, cfg.min_chars)
    chunks = []
    for index, (start, end) in enumerate(cut):
        body = text[start:end].strip()
        if len(body) < cfg.min_chars and index > 0:
            continue
        chunks.append({
            "id": f"{doc['id']}#{index}",
            "doc_id": doc["id"],
            "title": doc.get("title", ""),
            "section": _section_path(headings, start),
            "text": body,
            "start": start,
        })
    return chunks


def run(cfg: ChunkConfig, documents: Path, output: Path) -> dict[str, Any]:
    chunks: list[dict[str, Any]] = []
    docs = 0
    model = None
    if cfg.mode == "semantic":
        from spladeforge.semantic_chunking import load_model

        model = load_model(cfg)
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
