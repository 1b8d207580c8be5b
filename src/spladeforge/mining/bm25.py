"""BM25 for mining: every query's hits over the training chunks, best first, and a query's score on a text
the corpus does not hold (its own passage) under the corpus's statistics."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from tqdm import tqdm

from spladeforge.language import language
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


def _tokens(texts: list[str], language_code: str = "en") -> list[list[str]]:
    # The tokenization of retrieval.bm25.BM25Index for the corpus language.
    return language(language_code).bm25_tokenize(texts, return_ids=False)


@dataclass(frozen=True)
class CorpusStatistics:
    """What BM25 needs of a corpus to score a text that is not in it: document frequencies and lengths."""

    size: int
    average_length: float
    document_frequency: dict[str, int]
    language_code: str = "en"


def corpus_statistics(texts: list[str], language_code: str = "en") -> CorpusStatistics:
    docs = _tokens(texts, language_code)
    df: Counter[str] = Counter()
    for doc in docs:
        df.update(set(doc))
    return CorpusStatistics(len(docs), sum(map(len, docs)) / max(1, len(docs)), dict(df), language_code)


def bm25_pair_scores(stats: CorpusStatistics, queries: list[str], texts: list[str],
                     k1: float = 1.5, b: float = 0.75) -> list[float]:
    """BM25 of query i on texts[i] as one more document of the corpus `stats` describes.

    The Lucene variant bm25s computes (Kamphuis et al., 2020): idf ln(1 + (N - df + 0.5) / (df +
    0.5)), term part tf / (tf + k1 (1 - b + b |d| / avgdl)); a term the corpus lacks adds nothing,
    as it would in the index. Used for a training query's own passage (its inverse-cloze sentence
    removed, its title stripped), which the corpus does not hold as such.
    """
    out = []
    for query, doc in zip(_tokens(queries, stats.language_code), _tokens(texts, stats.language_code), strict=True):
        tf = Counter(doc)
        norm = k1 * (1 - b + b * len(doc) / stats.average_length) if stats.average_length else k1
        score = 0.0
        for term in query:
            df = stats.document_frequency.get(term)
            if df and tf[term]:
                idf = math.log(1 + (stats.size - df + 0.5) / (df + 0.5))
                score += idf * tf[term] / (tf[term] + norm)
        out.append(score)
    return out
