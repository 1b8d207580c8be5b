"""BM25 over a list of texts with bm25s, k1=1.5, b=0.75, tokenized for the corpus language.

English: bm25s' English stopwords and the Snowball English stemmer; another language: Unicode
words, its stopwords and Snowball stemmer when it has them (`spladeforge.language`). Used to mine
hard negatives and to filter queries. Evaluation's BM25 baseline is MTEB's own bm25s model with the
same tokenization and k1/b (`evaluation.systems.bm25_system`), so the figures are comparable.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spladeforge.language import language


class BM25Index:
    def __init__(self, texts: Sequence[str], k1: float = 1.5, b: float = 0.75, language_code: str = "en") -> None:
        import bm25s

        self.language = language(language_code)
        self.size = len(texts)
        self.retriever = bm25s.BM25(k1=k1, b=b)
        self.retriever.index(self.language.bm25_tokenize(texts), show_progress=False)

    def search(self, queries: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (indices, scores), each [len(queries), min(k, size)], best first."""
        k = min(k, self.size)
        tokens = self.language.bm25_tokenize(queries)
        indices, scores = self.retriever.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return np.asarray(indices), np.asarray(scores)
