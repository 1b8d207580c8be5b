"""Training tuples (query, positive, hard negatives) from a rank window of BM25 or a dense model.

Negatives come from ranks [start, end) of `mine.rank_window` over the training documents' chunks
(`mine.method`: `bm25`, see `mining.bm25`, or `dense`, see `mining.dense`), skipping the positive
and every chunk of the positive's document (an overlapping neighbour chunk is a false negative,
not a hard one). The very top ranks are skipped for the same reason. When the window holds too
few candidates, seeded random chunks of other documents fill in and are counted. With
`mine.teacher`, each tuple also carries `scores: [positive, negative_1, ...]` (`mining.teacher`),
the positive being the passage the tuple trains on (the query's `positive` when it has one).

Every draw comes from a generator seeded by (seed, query id) and each query is ranked on its
own, so mining shard i of n of the queries gives exactly those queries' lines of the unsharded
output (BM25 without a teacher; a dense model or a teacher encodes in batches, whose
composition changes with the shard, so their floats can differ in the last bits).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spladeforge.config import MineConfig
from spladeforge.errors import InputError
from spladeforge.mining.bm25 import bm25_ranked
from spladeforge.mining.dense import dense_ranked
from spladeforge.mining.ensemble import Scorers, score_candidates
from spladeforge.mining.teacher import add_teacher_scores, teacher_logits
from spladeforge.models.build import load_dense_encoder
from spladeforge.shards import shard_slice
from spladeforge.text import passage, stable_hash

# Ensemble scores this close count as equal: the positive is scored on its own (its passage, not
# the corpus's chunk), the candidates as a batch, so a copy of the positive differs by rounding.
_TIE = 1e-4
# Ranks searched beyond the window's end: room for the positive's own document's chunks, which are skipped.
_DEPTH_MARGIN = 64


@dataclass
class MiningCounts:
    """What one mining run counts; a sharded run's counts add up to the unsharded run's."""

    tuples: int = 0
    corpus_chunks: int = 0  # training chunks searched (the same for every shard)
    random_fallback_negatives: int = 0
    queries_with_short_window: int = 0
    negative_rank_sum: int = 0
    negative_rank_count: int = 0
    false_negatives_dropped: int = 0  # ensemble candidates the teacher scored at or above the positive
    queries_without_negatives: int = 0  # ensemble: every candidate was dropped, so the query has no tuple

    def summary(self, cfg: MineConfig, output: Path) -> dict[str, Any]:
        """The mine stage's summary of these counts, written to `output`."""
        ranks = self.negative_rank_count
        return {"tuples": self.tuples, "negatives_per_query": cfg.num_negatives, "method": cfg.method,
                "corpus_chunks": self.corpus_chunks,
                "random_fallback_negatives": self.random_fallback_negatives,
                "queries_with_short_window": self.queries_with_short_window, "teacher": cfg.teacher,
                "mean_negative_rank": round(self.negative_rank_sum / ranks, 2) if ranks else None,
                **({"ensemble": list(cfg.ensemble), "ensemble_norm": cfg.ensemble_norm,
                    "drop_false_negatives": cfg.drop_false_negatives,
                    "false_negatives_dropped": self.false_negatives_dropped,
                    "queries_without_negatives": self.queries_without_negatives}
                   if cfg.teacher == "ensemble" else {}),
                "output": str(output)}


def _training_corpus(cfg: MineConfig, rows: list[dict[str, Any]], chunks: Iterable[dict[str, Any]],
                     train_path: Path, chunks_path: Path) -> list[dict[str, Any]]:
    """The chunks of the training documents, checked to hold every positive and enough negatives."""
    if not rows:
        raise InputError(f"{train_path}: no training queries")
    train_docs = {r["doc_id"] for r in rows}
    corpus = [c for c in chunks if c["doc_id"] in train_docs]
    ids = {c["id"] for c in corpus}
    missing = [r["chunk_id"] for r in rows if r["chunk_id"] not in ids]
    if missing:
        raise InputError(f"{train_path}: positive chunk {missing[0]} is not in {chunks_path}")
    if len({c["doc_id"] for c in corpus}) < 2:
        raise InputError(f"{train_path}: training queries come from one document; negatives need two")
    per_doc = Counter(c["doc_id"] for c in corpus)
    short = [r for r in rows if len(corpus) - per_doc[r["doc_id"]] < cfg.num_negatives]
    if short:
        raise InputError(f"{train_path}: query {short[0]['query_id']} has fewer than mine.num_negatives="
                         f"{cfg.num_negatives} chunks outside its document to draw negatives from; lower "
                         "num_negatives or add documents")
    return corpus


def mine_tuples(cfg: MineConfig, rows: list[dict[str, Any]], chunks: Iterable[dict[str, Any]], seed: int, *,
                train_path: Path, chunks_path: Path, shard: int = 0,
                num_shards: int = 1, scorers: Scorers | None = None,
                language_code: str = "en") -> tuple[list[dict[str, Any]], MiningCounts]:
    """Tuples for shard `shard` of `num_shards` of the training `rows`, and their counts.

    Every check covers all training rows and the corpus is always all of their documents' chunks,
    so a shard sees exactly what the unsharded run sees. The paths name the inputs in errors.
    `scorers` (ensemble only) are the loaded members, shared with the dev report; `language_code`
    is the corpus language BM25 tokenizes for.
    """
    corpus = _training_corpus(cfg, rows, chunks, train_path, chunks_path)
    by_id = {c["id"]: i for i, c in enumerate(corpus)}
    start, end = cfg.rank_window
    depth = end + _DEPTH_MARGIN
    texts = [passage(c) for c in corpus]
    rows = rows[shard_slice(len(rows), shard, num_shards)]
    dense = None
    if cfg.teacher == "ensemble":
        counts = MiningCounts(corpus_chunks=len(corpus))
        tuples = _ensemble_tuples(cfg, rows, corpus, texts, by_id, seed, counts, scorers,
                                  language_code) if rows else []
        counts.tuples = len(tuples)
        return tuples, counts
    if not rows:
        ranked = []
    elif cfg.method == "bm25":
        ranked = bm25_ranked(texts, [r["query"] for r in rows], depth, language_code)
    else:
        dense = load_dense_encoder(cfg.dense_model, key="mine.dense_model")
        positives = [texts[by_id[r["chunk_id"]]] for r in rows]
        ranked = dense_ranked(cfg, dense, rows, positives, texts, depth)

    tuples, counts = [], MiningCounts(corpus_chunks=len(corpus))
    for row, hit in zip(rows, ranked, strict=True):
        candidates = [i for i in hit if corpus[i]["doc_id"] != row["doc_id"]]
        rng = random.Random(stable_hash(seed, "mine", row["query_id"]))
        window = list(range(start, min(end, len(candidates))))
        picked = sorted(rng.sample(window, min(cfg.num_negatives, len(window))))
        negatives = [candidates[r] for r in picked]
        counts.negative_rank_sum += sum(picked)
        counts.negative_rank_count += len(picked)
        counts.queries_with_short_window += len(negatives) < cfg.num_negatives
        while len(negatives) < cfg.num_negatives:
            j = rng.randrange(len(corpus))
            if corpus[j]["doc_id"] != row["doc_id"] and j not in negatives:
                negatives.append(j)
                counts.random_fallback_negatives += 1
        record = {"query_id": row["query_id"], "anchor": row["query"],
                  "positive": row.get("positive") or texts[by_id[row["chunk_id"]]], "positive_id": row["chunk_id"],
                  "negative_ids": [corpus[j]["id"] for j in negatives]}
        for n, j in enumerate(negatives, start=1):
            record[f"negative_{n}"] = texts[j]
        tuples.append(record)
    if cfg.teacher != "none" and tuples:
        add_teacher_scores(cfg, tuples, dense)
    counts.tuples = len(tuples)
    return tuples, counts


def _ensemble_tuples(cfg: MineConfig, rows: list[dict[str, Any]], corpus: list[dict[str, Any]], texts: list[str],
                     by_id: dict[str, int], seed: int, counts: MiningCounts,
                     scorers: Scorers | None, language_code: str = "en") -> list[dict[str, Any]]:
    """Tuples whose negatives are drawn from the ensemble teacher's candidates (`mining.ensemble`).

    Every member scores the passage the student trains on (the query's `positive`: its sentence
    removed, its title stripped), not the chunk the corpus holds. With `mine.drop_false_negatives`,
    candidates the teacher scores at or above the positive are dropped first (counted); a query
    left with fewer than `num_negatives` candidates gets no tuple (counted): a random fill-in
    would carry no teacher score to distil.
    """
    own = [r.get("positive") or texts[by_id[r["chunk_id"]]] for r in rows]
    scored = score_candidates(cfg, rows, corpus, texts, own, scorers, language_code)
    tuples = []
    for row, found in zip(rows, scored, strict=True):
        pool = list(zip(found.candidates, found.scores, strict=True))
        if cfg.drop_false_negatives:
            kept = [(j, s) for j, s in pool if s < found.positive_score - _TIE]
            counts.false_negatives_dropped += len(pool) - len(kept)
            pool = kept
        if len(pool) < cfg.num_negatives:
            counts.queries_without_negatives += 1
            continue
        rng = random.Random(stable_hash(seed, "mine", row["query_id"]))
        picked = [pool[k] for k in sorted(rng.sample(range(len(pool)), cfg.num_negatives))]
        record = {"query_id": row["query_id"], "anchor": row["query"],
                  "positive": row.get("positive") or texts[by_id[row["chunk_id"]]], "positive_id": row["chunk_id"],
                  "negative_ids": [corpus[j]["id"] for j, _ in picked]}
        for n, (j, _) in enumerate(picked, start=1):
            record[f"negative_{n}"] = texts[j]
        scores = teacher_logits([found.positive_score, *(s for _, s in picked)], "ensemble")
        record["scores"] = [round(s, 6) for s in scores]
        tuples.append(record)
    return tuples
