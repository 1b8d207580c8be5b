"""Hybrid ranking: normalized score fusion of two runs (e.g. sparse and dense).

Each run's scores are min-max normalized per query over its own candidate list, then combined
as `weight * a + (1 - weight) * b`; a document missing from one run gets that run's normalized
minimum, 0. This is the "normalized score fusion" of Chen et al. 2022 ("Out-of-domain semantics
to the rescue! Zero-shot hybrid retrieval models") and Pyserini's hybrid `--normalization`.
"""

from __future__ import annotations

Run = dict[str, dict[str, float]]  # query id -> {document id: score}


def min_max(scores: dict[str, float]) -> dict[str, float]:
    """Scale one query's scores to [0, 1]; equal scores all become 1 (they tie at the top)."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high == low:
        return dict.fromkeys(scores, 1.0)
    return {doc: (score - low) / (high - low) for doc, score in scores.items()}


def fuse(a: Run, b: Run, weight: float, k: int | None = None) -> Run:
    """`weight * minmax(a) + (1 - weight) * minmax(b)` per query; the top `k` of the union if given."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"fusion weight must be in [0, 1], got {weight}")
    fused: Run = {}
    for qid in a.keys() | b.keys():
        norm_a, norm_b = min_max(a.get(qid, {})), min_max(b.get(qid, {}))
        scores = {doc: weight * norm_a.get(doc, 0.0) + (1.0 - weight) * norm_b.get(doc, 0.0)
                  for doc in norm_a.keys() | norm_b.keys()}
        if k is not None:
            scores = dict(sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k])
        fused[qid] = scores
    return fused
