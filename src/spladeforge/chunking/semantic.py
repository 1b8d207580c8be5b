"""Semantic chunking: cut where adjacent sentences stop talking about the same thing.

`chunk.mode: semantic`: chunks that follow the text's topics rather than a fixed length. Each
sentence is embedded with a dense model (default `builtin:minilm-l6`); a chunk ends between two
sentences whose cosine similarity is below `semantic_threshold`, or below the document's
`semantic_percentile`-th percentile of adjacent similarities when no threshold is set; each
side of a gap is the mean of up to `semantic_window` sentences (the
"percentile breakpoint" of Kamradt's semantic chunker, as in LangChain and LlamaIndex). Size
bounds still hold: a chunk never grows past `size` characters, is not cut below `min_chars`
(only a document's last chunk may be shorter), and a Markdown heading starts a new chunk once
the current one has `min_chars`. A single sentence longer than `size` is cut into windows.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from spladeforge.chunking.window import spans as window_spans
from spladeforge.config import ChunkConfig
from spladeforge.models.build import load_dense_encoder

_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n\s*\n|\n(?=#{1,6}\s)")
_HEADING_LINE = re.compile(r"^#{1,6}\s[^\n]*\n", re.MULTILINE)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """[start, end) of each sentence, paragraph or heading line, whitespace trimmed."""
    cuts = sorted([m.span() for m in _BOUNDARY.finditer(text)]
                  + [(m.end() - 1, m.end()) for m in _HEADING_LINE.finditer(text)])
    out, pos = [], 0
    for start, end in [*cuts, (len(text), len(text))]:
        if start < pos:
            pos = max(pos, end)
            continue
        while start < end and text[start] in "\"')]":
            start += 1  # keep closing quotes and brackets with their sentence
        piece = text[pos:start]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            out.append((pos + lead, pos + len(piece.rstrip())))
        pos = max(pos, end)
    return out


def _cuts(spans: list[tuple[int, int]], sims: np.ndarray, is_heading: list[bool], cfg: ChunkConfig,
          threshold: float) -> list[tuple[int, int]]:
    """Group sentence spans into chunk spans."""
    groups, seg_start = [], spans[0][0]
    for i in range(1, len(spans)):
        current = spans[i - 1][1] - seg_start
        grown = spans[i][1] - seg_start
        big_enough = current >= cfg.min_chars
        if grown > cfg.size or (big_enough and (sims[i - 1] < threshold or is_heading[i])):
            groups.append((seg_start, spans[i - 1][1]))
            seg_start = spans[i][0]
    groups.append((seg_start, spans[-1][1]))
    if len(groups) > 1 and groups[-1][1] - groups[-1][0] < cfg.min_chars \
            and groups[-1][1] - groups[-2][0] <= cfg.size:
        tail = groups.pop()
        groups[-1] = (groups[-1][0], tail[1])  # a short tail joins its predecessor if it fits
    return groups


def _block_similarities(emb: np.ndarray, window: int) -> np.ndarray:
    """Cosine between the mean of the `window` sentences before each gap and the `window` after.

    Single sentences are noisy neighbours (a short sentence is far from everything); comparing
    blocks is TextTiling's remedy (Hearst, 1997) and Kamradt's `buffer_size`.
    """
    csum = np.vstack([np.zeros((1, emb.shape[1]), dtype=emb.dtype), np.cumsum(emb, axis=0)])
    n = len(emb)
    sims = np.empty(n - 1)
    for gap in range(1, n):
        left = csum[gap] - csum[max(0, gap - window)]
        right = csum[min(n, gap + window)] - csum[gap]
        sims[gap - 1] = left @ right / (np.linalg.norm(left) * np.linalg.norm(right) + 1e-12)
    return sims


def semantic_spans(text: str, cfg: ChunkConfig, model) -> list[tuple[int, int]]:
    """Character spans of the semantic chunks of `text`."""
    sents = sentence_spans(text)
    if not sents:
        return []
    if len(sents) == 1:
        sims = np.zeros(0)
        threshold = 0.0
    else:
        emb = model.encode([text[s:e] for s, e in sents], batch_size=cfg.semantic_batch_size,
                           normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        sims = _block_similarities(emb, cfg.semantic_window)
        threshold = (cfg.semantic_threshold if cfg.semantic_threshold is not None
                     else float(np.percentile(sims, cfg.semantic_percentile)))
    headings = [text[s] == "#" for s, _ in sents]
    out = []
    for start, end in _cuts(sents, sims, headings, cfg, threshold):
        if end - start <= cfg.size:
            out.append((start, end))
        else:  # one sentence longer than size: fall back to character windows inside it
            out.extend((start + a, start + b) for a, b in
                       window_spans(text[start:end], cfg.size, cfg.overlap, cfg.min_chars))
    return out


def load_model(cfg: ChunkConfig) -> Any:
    """The sentence encoder of `chunk.semantic_model`."""
    return load_dense_encoder(cfg.semantic_model, key="chunk.semantic_model")
