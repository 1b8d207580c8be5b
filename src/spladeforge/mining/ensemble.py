"""An offline ensemble teacher for pseudo-labels: per-query normalized scores of several retrievers.

GPL (Wang et al., 2022) labels generated queries with a teacher's scores and distils its margins
(MarginMSE) into the student; without a cross-encoder, the teacher here is the average of
per-query normalized scores of `mine.ensemble` members (arXiv 2411.04403 combines lexical and
dense scores the same way):
- `bm25`: bm25s over the training chunks (`retrieval.bm25`);
- `dense`: the cosine of `mine.dense_model` (all-MiniLM-L6-v2 by default);
- `base`: the dot product of the sparse model training starts from (`mine.base_model`).

Candidates are the union of the BM25, the dense and every other member's top `rank_window` end
over chunks of other documents (the positive's own document is skipped, as in
`mining.negatives`). Each member's scores are normalized over the query's candidate list, the
positive plus every candidate (`mine.ensemble_norm`: `zscore` or `minmax`), so members on
different scales count alike, then averaged. The positive is the passage the student trains on
(the query's `positive`: its inverse-cloze sentence removed, its title stripped), scored by every
member (BM25 as one more document of the training corpus, `mining.bm25.bm25_pair_scores`): a
teacher that scored the full chunk would rate the positive on the very sentence the student no
longer sees and inflate the margin it distils. With `mine.drop_false_negatives`, candidates the
teacher scores at or above the positive are likely unlabelled positives and are dropped before
negatives are drawn; the rank window's start, the other guard against them, is then not applied.

Members. Distillation can only pull a student towards its teacher, so a teacher weaker than the
student's base pulls it down (the MS MARCO passages, the base's own domain: BM25 0.727 and MiniLM
0.798 NDCG@10 against the base's 0.810). The default is therefore [base, dense]: the base's own
scores keep what it already ranks well, the dense model adds what it misses, and BM25 is an
option. `mining.teacher_report` scores every member and the ensemble as retrievers on the dev
split and warns when the teacher does not beat the base.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spladeforge.config import MineConfig
from spladeforge.mining.bm25 import bm25_pair_scores, corpus_statistics
from spladeforge.models.build import load_dense_encoder, load_sparse_encoder
from spladeforge.retrieval.bm25 import BM25Index

_BATCH = 256  # queries scored against the whole corpus at once: bounds the [batch, corpus] matrices


@dataclass
class ScoredCandidates:
    """One query's candidates (corpus indices) and the teacher's normalized scores."""

    candidates: list[int]
    positive_score: float
    scores: list[float]  # one per candidate


def normalize(scores: np.ndarray, how: str) -> np.ndarray:
    """Per-row z-score (mean 0, std 1) or min-max ([0, 1]); a constant row becomes all zeros."""
    scores = scores.astype(np.float64)
    if how == "zscore":
        std = scores.std(axis=-1, keepdims=True)
        return np.where(std > 0, (scores - scores.mean(axis=-1, keepdims=True)) / np.where(std > 0, std, 1), 0.0)
    if how == "minmax":
        low, high = scores.min(axis=-1, keepdims=True), scores.max(axis=-1, keepdims=True)
        span = high - low
        return np.where(span > 0, (scores - low) / np.where(span > 0, span, 1), 0.0)
    raise ValueError(f"unknown normalization {how!r} (accepted: zscore, minmax)")


def ensemble_scores(members: Sequence[np.ndarray], how: str) -> np.ndarray:
    """The mean of each member's normalized scores over one candidate list (positive first)."""
    return np.mean([normalize(np.asarray(m), how) for m in members], axis=0)


class Scorers:
    """Each member's scores of a batch of queries over a corpus, and of given passages.

    Dense document embeddings are cached by text: the dev report's corpus holds every training
    chunk, so MiniLM encodes a chunk once per run whichever list asks for it first.
    """

    def __init__(self, cfg: MineConfig, members: set[str], language_code: str = "en") -> None:
        self.language_code = language_code  # the corpus language BM25 tokenizes for
        self.needed = set(members) | {"bm25", "dense"}  # bm25 and dense also rank the candidates
        self.batch_size = cfg.batch_size
        self.dense = load_dense_encoder(cfg.dense_model, key="mine.dense_model")
        self.base = load_sparse_encoder(cfg.base_model, device="cpu", key="mine.base_model") \
            if "base" in self.needed else None
        self._dense_cache: dict[str, np.ndarray] = {}

    def _dense_docs(self, texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self._dense_cache]
        if todo:
            emb = self.dense.encode(todo, batch_size=self.batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
            self._dense_cache.update(zip(todo, emb, strict=True))
        return np.stack([self._dense_cache[t] for t in texts])

    def _base_docs(self, texts: list[str]):
        # BERT-tiny encodes fast, and a [corpus, vocabulary] cache would not be small: no cache.
        return self.base.encode_document(texts, batch_size=self.batch_size, convert_to_sparse_tensor=True)

    def corpus(self, texts: list[str]) -> CorpusScorer:
        return CorpusScorer(self, texts)


class CorpusScorer:
    """Scores of queries over one corpus (`__call__`) and of each query's own passage (`passages`)."""

    def __init__(self, scorers: Scorers, texts: list[str]) -> None:
        self.scorers = scorers
        self.bm25 = BM25Index(texts, language_code=scorers.language_code)
        self.bm25_stats = corpus_statistics(texts, scorers.language_code)
        self.doc_emb = scorers._dense_docs(texts)
        self.base_docs = scorers._base_docs(texts) if scorers.base is not None else None

    def __call__(self, queries: list[str]) -> dict[str, np.ndarray]:
        s = self.scorers
        hits, scores = self.bm25.search(queries, k=self.bm25.size)
        full = np.zeros((len(queries), self.bm25.size), dtype=np.float32)
        np.put_along_axis(full, hits, scores, axis=1)
        out = {"bm25": full}
        self._q_emb = s.dense.encode(queries, batch_size=s.batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
        out["dense"] = self._q_emb @ self.doc_emb.T
        self._q_base = None
        if s.base is not None:
            import torch

            self._q_base = s.base.encode_query(queries, batch_size=s.batch_size, convert_to_sparse_tensor=True)
            out["base"] = torch.sparse.mm(self._q_base, self.base_docs.t()).to_dense().numpy()
        return out

    def passages(self, queries: list[str], texts: list[str]) -> dict[str, np.ndarray]:
        """Each member's score of query i against texts[i], for the queries of the last `__call__`.

        BM25 scores the text as one more document of this corpus (its statistics, `mining.bm25`).
        """
        out = {"bm25": np.asarray(bm25_pair_scores(self.bm25_stats, queries, texts), dtype=np.float64),
               "dense": np.einsum("ij,ij->i", self._q_emb, self.scorers._dense_docs(texts))}
        if self._q_base is not None:
            docs = self.scorers._base_docs(texts).to_dense()
            out["base"] = (self._q_base.to_dense() * docs).sum(dim=1).numpy()
        return out


def candidates(scores: dict[str, np.ndarray], i: int, allowed: np.ndarray, depth: int,
               rankers: Sequence[str]) -> list[int]:
    """The union of each ranker's top `depth` over the `allowed` corpus entries, in corpus order."""
    union: dict[int, None] = {}
    for ranker in rankers:
        # A zero BM25 score is no match at all: bm25s still fills its ranks with arbitrary chunks.
        ok = allowed & (scores["bm25"][i] > 0) if ranker == "bm25" else allowed
        s = np.where(ok, scores[ranker][i], -np.inf)
        top = np.argsort(-s, kind="stable")[:depth]
        union.update(dict.fromkeys(int(j) for j in top if np.isfinite(s[j])))
    return sorted(union)


def rankers(cfg: MineConfig) -> tuple[str, ...]:
    """Who proposes candidates: BM25, the dense model and every other member."""
    return ("bm25", "dense", *(m for m in cfg.ensemble if m not in ("bm25", "dense")))


def score_candidates(cfg: MineConfig, rows: list[dict[str, Any]], corpus: list[dict[str, Any]],
                     texts: list[str], positives: list[str],
                     scorers: Scorers | None = None, language_code: str = "en") -> list[ScoredCandidates]:
    """Each row's candidates from other documents and the ensemble's scores (see the module docstring).

    `positives[i]` is the passage row i trains against (its `positive`, else its chunk's text):
    every member scores that text, so the teacher's margin is over what the student sees.
    False negatives are not dropped here.
    """
    depth = cfg.rank_window[1]
    scorer = (scorers or Scorers(cfg, set(cfg.ensemble), language_code)).corpus(texts)
    docs = np.array([c["doc_id"] for c in corpus])
    out: list[ScoredCandidates] = []
    for lo in range(0, len(rows), _BATCH):
        batch = rows[lo: lo + _BATCH]
        queries = [r["query"] for r in batch]
        scores = scorer(queries)
        own = scorer.passages(queries, positives[lo: lo + _BATCH])
        for i, row in enumerate(batch):
            cand = candidates(scores, i, docs != row["doc_id"], depth, rankers(cfg))
            teacher = ensemble_scores([np.concatenate([[own[m][i]], scores[m][i][cand]]) for m in cfg.ensemble],
                                      cfg.ensemble_norm)
            out.append(ScoredCandidates(cand, float(teacher[0]), [float(t) for t in teacher[1:]]))
    return out
