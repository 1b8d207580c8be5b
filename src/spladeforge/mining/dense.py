"""Dense hard-negative candidates with sentence-transformers' `mine_hard_negatives`.

The library ranks the corpus with a bi-encoder, removes the positive, and applies the relative
margin guard of NV-Retriever (Moreira et al., 2024): a candidate scoring above
`positive - |positive| * relative_margin` is probably an unlabelled positive and is dropped.
It does not know that chunks of one document overlap, so candidates come back in rank order
(`labeled-list`, every candidate up to `depth`) and `mine` removes the positive's document
before applying the rank window, exactly as for BM25.
"""

from __future__ import annotations

from typing import Any

from spladeforge.config import MineConfig


def dense_candidates(cfg: MineConfig, model, rows: list[dict[str, Any]], positives: list[str],
                     corpus_texts: list[str], depth: int) -> dict[tuple[str, str], list[str]]:
    """Map (query, positive text) -> candidate texts in rank order, margin-guarded."""
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives

    dataset = Dataset.from_dict({"anchor": [r["query"] for r in rows], "positive": positives})
    unique = len(dict.fromkeys(corpus_texts))
    depth = max(1, min(depth, unique - 1))
    mined = mine_hard_negatives(
        dataset, model, corpus=corpus_texts, range_min=0, range_max=depth, num_negatives=depth,
        relative_margin=cfg.relative_margin, sampling_strategy="top", output_format="labeled-list",
        output_scores=True, batch_size=cfg.batch_size, verbose=False,
    )
    out: dict[tuple[str, str], list[str]] = {}
    for anchor, docs in zip(mined["anchor"], mined["positive"], strict=True):
        out[(anchor, docs[0])] = docs[1:]  # docs[0] is the positive itself
    return out


def dense_ranked(cfg: MineConfig, model, rows: list[dict[str, Any]], positives: list[str],
                 corpus_texts: list[str], depth: int) -> list[list[int]]:
    """Indices into `corpus_texts` of each row's margin-guarded candidates, in rank order.

    The library returns texts: a text that occurs more than once maps to its first index.
    """
    by_text: dict[str, int] = {}
    for i, t in enumerate(corpus_texts):
        by_text.setdefault(t, i)
    found = dense_candidates(cfg, model, rows, positives, corpus_texts, depth)
    return [[by_text[t] for t in found.get((r["query"], pos), [])] for r, pos in zip(rows, positives, strict=True)]
