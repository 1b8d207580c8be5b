"""BM25 over a list of texts with bm25s: English stopwords, Snowball stemmer, k1=1.5, b=0.75.

Used to mine hard negatives and to filter queries. Evaluation's BM25 baseline is MTEB's own
bm25s model with the same tokenization and k1/b, so the figures are comparable.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class BM25Index:
    def __init__(self, texts: Sequence[str], k1: float = 1.5, b: float = 0.75) -> None:
        import bm25s
        import Stemmer

        self._bm25s = bm25s
        self.stemmer = Stemmer.Stemmer("english")
        self.size = len(texts)
        self.retriever = bm25s.BM25(k1=k1, b=b)
        tokens = bm25s.tokenize(list(texts), stopwords="en", stemmer=self.stemmer, show_progress=False)
        self.retriever.index(tokens, show_progress=False)

    def search(self, queries: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (indices, scores), each [len(queries), min(k, size)], best first."""
        k = min(k, self.size)
        tokens = self._bm25s.tokenize(list(queries), stopwords="en", stemmer=self.stemmer,
                                      show_progress=False)
        indices, scores = self.retriever.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return np.asarray(indices), np.asarray(scores)
