"""mine: hard negatives for each training query from a BM25 rank window.

Negatives come from ranks [start, end) of BM25 over the training documents' chunks, skipping
the positive and every chunk of the positive's document (an overlapping neighbour chunk is a
false negative, not a hard one). The very top ranks are skipped for the same reason. When the
window holds too few candidates, seeded random chunks of other documents fill in and are
counted in the summary.
"""

from __future__ import annotations

import random
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

    index = BM25Index([passage(c) for c in corpus])
    start, end = cfg.rank_window
    depth = end + 64  # room for the positive's own document's chunks, which are skipped
    tuples, fallbacks, ranks = [], 0, []
    for lo in tqdm(range(0, len(rows), _BATCH), desc="mine", unit=" batches"):
        batch = rows[lo: lo + _BATCH]
        hits, scores = index.search([r["query"] for r in batch], k=depth)
        for row, hit, score in zip(batch, hits, scores, strict=True):
            candidates = [int(i) for i, s in zip(hit, score, strict=True)
                          if s > 0 and corpus[i]["doc_id"] != row["doc_id"]]
            rng = random.Random(stable_hash(seed, "mine", row["query_id"]))
            window = list(range(start, min(end, len(candidates))))
            picked = sorted(rng.sample(window, min(cfg.num_negatives, len(window))))
            negatives = [candidates[r] for r in picked]
            ranks.extend(picked)
            if len(negatives) < cfg.num_negatives:
                while len(negatives) < cfg.num_negatives:
                    j = rng.randrange(len(corpus))
                    if corpus[j]["doc_id"] != row["doc_id"] and j not in negatives:
                        negatives.append(j)
                        fallbacks += 1
            record = {"query_id": row["query_id"], "anchor": row["query"],
                      "positive": passage(corpus[by_id[row["chunk_id"]]]), "positive_id": row["chunk_id"],
                      "negative_ids": [corpus[j]["id"] for j in negatives]}
            for n, j in enumerate(negatives, start=1):
                record[f"negative_{n}"] = passage(corpus[j])
            tuples.append(record)
    write_jsonl(output, tuples)
    return {"tuples": len(tuples), "negatives_per_query": cfg.num_negatives,
            "corpus_chunks": len(corpus), "random_fallback_negatives": fallbacks,
            "mean_negative_rank": round(sum(ranks) / len(ranks), 2) if ranks else None,
            "output": str(output)}
