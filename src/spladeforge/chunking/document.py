"""The chunks of one document: spans from the configured mode, each with its section path.

Each chunk carries its document title and the Markdown heading path (`A > B`) in effect where it
starts. Chunk ids are `<doc id>#<index>`: stable while the document is. A chunk other than the
first that is shorter than `min_chars` once stripped is left out (its index is not reused).
Sizes are Latin-letter equivalents: in a document of Hangul or CJK text, whose characters each
carry about 3 letters' worth (`language.density`), `size`, `overlap` and `min_chars` shrink by
its density, so a Korean chunk holds as much text as an English one instead of 3x more.
"""

from __future__ import annotations

import re
from typing import Any

from spladeforge.chunking.semantic import semantic_spans
from spladeforge.chunking.window import spans
from spladeforge.config import ChunkConfig
from spladeforge.language import density

_HEADING = re.compile(r"^(#{1,6})\s+(.+)$", re.MULTILINE)


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
    scale = density(text)
    if scale != 1.0:
        cfg = cfg.model_copy(update={key: max(1, round(getattr(cfg, key) / scale))
                                     for key in ("size", "overlap", "min_chars")})
    headings = [(m.start(), len(m.group(1)), m.group(2).strip()) for m in _HEADING.finditer(text)]
    if cfg.mode == "semantic":
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
