"""BM25 candidates for hard-negative mining: every query's hits over the training chunks, best first."""

from __future__ import annotations

from tqdm import tqdm

from spladeforge.retrieval.bm25 import BM25Index

_BATCH = 256  # queries per bm25s call: bounds the score matrix, progress shown per batch


def bm25_ranked(texts: list[str], queries: list[str], depth: int, language_code: str = "en") -> list[list[int]]:
    """Indices into `texts` of each query's top `depth` BM25 hits with a positive score, best first,
    tokenized for the corpus language `language_code`."""
    index = BM25Index(texts, language_code=language_code)
    ranked: list[list[int]] = []
    for lo in tqdm(range(0, len(queries), _BATCH), desc="mine", unit=" batches"):
        hits, scores = index.search(queries[lo: lo + _BATCH], k=depth)
        ranked.extend([int(i) for i, s in zip(hit, score, strict=True) if s > 0]
                      for hit, score in zip(hits, scores, strict=True))
    return ranked
