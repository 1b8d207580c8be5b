"""mine: hard negatives for each training query from a rank window of BM25 or a dense model.

Negatives come from ranks [start, end) over the training documents' chunks (`mine.method`:
`bm25`, or `dense` through sentence-transformers' `mine_hard_negatives` with a relative-margin
guard, see `spladeforge.mining.dense`), skipping the positive and every chunk of the positive's
document (an overlapping neighbour chunk is a false negative, not a hard one). The very top
ranks are skipped for the same reason. When the window holds too few candidates, seeded random
chunks of other documents fill in and are counted in the summary. With `mine.teacher`, each
tuple also carries `scores: [positive, negative_1, ...]` from a teacher for distillation.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

from tqdm import tqdm

from spladeforge.config import MineConfig
from spladeforge.errors import InputError
from spladeforge.io import iter_jsonl, write_jsonl
from spladeforge.retrieval.bm25 import BM25Index
from spladeforge.text import passage, stable_hash

_BATCH = 256


def run(cfg: MineConfig, train_path: Path, chunks_path: Path, output: Path, seed: int) -> dict[str, Any]:
    rows = list(iter_jsonl(train_path, required=("query_id", "query", "chunk_id", "doc_id")))
    if not rows:
        raise InputError(f"{train_path}: no training queries")
    train_docs = {r["doc_id"] for r in rows}
    corpus = [c for c in iter_jsonl(chunks_path, required=("id", "doc_id", "text")) if c["doc_id"] in train_docs]
    by_id = {c["id"]: i for i, c in enumerate(corpus)}
    missing = [r["chunk_id"] for r in rows if r["chunk_id"] not in by_id]
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
    start, end = cfg.rank_window
    depth = end + 64  # room for the positive's own document's chunks, which are skipped
    texts = [passage(c) for c in corpus]
    dense = None
    if cfg.method == "bm25":
        ranked = _bm25_ranked(texts, rows, depth)
    else:
        from spladeforge.mining.dense import dense_candidates, load_dense

        dense = load_dense(cfg.dense_model)
        by_text: dict[str, int] = {}
        for i, t in enumerate(texts):
            by_text.setdefault(t, i)
        positives = [texts[by_id[r["chunk_id"]]] for r in rows]
        found = dense_candidates(cfg, dense, rows, positives, texts, depth)
        ranked = [[by_text[t] for t in found.get((r["query"], pos), [])]
                  for r, pos in zip(rows, positives, strict=True)]

    tuples, fallbacks, ranks, short_windows = [], 0, [], 0
    for row, hit in zip(rows, ranked, strict=True):
        candidates = [i for i in hit if corpus[i]["doc_id"] != row["doc_id"]]
        rng = random.Random(stable_hash(seed, "mine", row["query_id"]))
        window = list(range(start, min(end, len(candidates))))
        picked = sorted(rng.sample(window, min(cfg.num_negatives, len(window))))
        negatives = [candidates[r] for r in picked]
        ranks.extend(picked)
        short_windows += len(negatives) < cfg.num_negatives
        while len(negatives) < cfg.num_negatives:
            j = rng.randrange(len(corpus))
            if corpus[j]["doc_id"] != row["doc_id"] and j not in negatives:
                negatives.append(j)
                fallbacks += 1
        record = {"query_id": row["query_id"], "anchor": row["query"],
                  "positive": texts[by_id[row["chunk_id"]]], "positive_id": row["chunk_id"],
                  "negative_ids": [corpus[j]["id"] for j in negatives]}
        for n, j in enumerate(negatives, start=1):
            record[f"negative_{n}"] = texts[j]
        tuples.append(record)
    if cfg.teacher != "none":
        _add_teacher_scores(cfg, tuples, dense)
    write_jsonl(output, tuples)
    return {"tuples": len(tuples), "negatives_per_query": cfg.num_negatives, "method": cfg.method,
            "corpus_chunks": len(corpus), "random_fallback_negatives": fallbacks,
            "queries_with_short_window": short_windows, "teacher": cfg.teacher,
            "mean_negative_rank": round(sum(ranks) / len(ranks), 2) if ranks else None,
            "output": str(output)}


def _bm25_ranked(texts: list[str], rows: list[dict[str, Any]], depth: int) -> list[list[int]]:
    """BM25 hits with a positive score, best first, for every row's query."""
    index = BM25Index(texts)
    ranked: list[list[int]] = []
    for lo in tqdm(range(0, len(rows), _BATCH), desc="mine", unit=" batches"):
        hits, scores = index.search([r["query"] for r in rows[lo: lo + _BATCH]], k=depth)
        ranked.extend([int(i) for i, s in zip(hit, score, strict=True) if s > 0]
                      for hit, score in zip(hits, scores, strict=True))
    return ranked


def _add_teacher_scores(cfg: MineConfig, tuples: list[dict[str, Any]], dense) -> None:
    from spladeforge.mining.teacher import Teacher

    teacher = Teacher(cfg.teacher, cfg.dense_model, cfg.batch_size, dense=dense)
    width = 1 + cfg.num_negatives
    pairs = [(t["anchor"], t[key]) for t in tuples
             for key in ["positive"] + [f"negative_{n}" for n in range(1, cfg.num_negatives + 1)]]
    scores = teacher.score(pairs)
    for i, t in enumerate(tuples):
        t["scores"] = [round(s, 6) for s in scores[i * width:(i + 1) * width]]
