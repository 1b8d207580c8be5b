"""mine: hard negatives for each training query from a rank window of BM25 or a dense model.

Negatives come from ranks [start, end) over the training documents' chunks (`mine.method`:
`bm25`, or `dense` through sentence-transformers' `mine_hard_negatives` with a relative-margin
guard, see `spladeforge.mining.dense`), skipping the positive and every chunk of the positive's
document (an overlapping neighbour chunk is a false negative, not a hard one). The very top
ranks are skipped for the same reason. When the window holds too few candidates, seeded random
chunks of other documents fill in and are counted in the summary. With `mine.teacher`, each
tuple also carries `scores: [positive, negative_1, ...]` from a teacher for distillation.

For large corpora the Kubeflow DAG mines in shards: `run_shard` mines shard i of n of the
training queries (a contiguous block, searched against the whole chunk corpus) and
`merge_shards` concatenates the shards in shard order. Every draw comes from a generator seeded
by (seed, query id), and each query is ranked on its own, so the merged tuples file is
byte-identical to `run`'s with the same seed (BM25 mining without a teacher; a dense model or a
teacher encodes in batches, whose composition changes with the shard, so their floats can
differ in the last bits).
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

from tqdm import tqdm

from spladeforge.config import MineConfig
from spladeforge.errors import InputError
from spladeforge.io import atomic_output, iter_jsonl, read_json, write_json, write_jsonl
from spladeforge.retrieval.bm25 import BM25Index
from spladeforge.shards import check_complete, shard_slice
from spladeforge.text import passage, stable_hash

_BATCH = 256
SHARD_TUPLES = "tuples.jsonl"
SHARD_SUMMARY = "summary.json"
# What each shard counts; the merged summary is their sum.
_COUNTS = ("tuples", "random_fallback_negatives", "queries_with_short_window", "negative_rank_sum",
           "negative_rank_count")


def run(cfg: MineConfig, train_path: Path, chunks_path: Path, output: Path, seed: int) -> dict[str, Any]:
    """Mine every training query; write the tuples to `output` (JSONL) and return a summary."""
    tuples, counts = _mine(cfg, Path(train_path), Path(chunks_path), seed)
    write_jsonl(output, tuples)
    return _summary(cfg, counts, output)


def run_shard(cfg: MineConfig, train_path: Path, chunks_path: Path, out_dir: Path, seed: int,
              shard: int, num_shards: int) -> dict[str, Any]:
    """Mine shard `shard` of `num_shards` of the training queries into `out_dir`.

    `out_dir` holds `tuples.jsonl` (this shard's lines of `run`'s output) and `summary.json`
    (the shard's position and counts, which `merge_shards` adds up). An empty shard is valid.
    """
    shard_slice(0, shard, num_shards)  # a bad shard number fails before any reading
    tuples, counts = _mine(cfg, Path(train_path), Path(chunks_path), seed, shard, num_shards)
    out_dir = Path(out_dir)
    with atomic_output(out_dir, directory=True) as tmp:
        write_jsonl(tmp / SHARD_TUPLES, tuples)
        write_json(tmp / SHARD_SUMMARY, {"shard": shard, "num_shards": num_shards, **counts})
    return _summary(cfg, counts, out_dir / SHARD_TUPLES) | {"shard": shard, "num_shards": num_shards}


def merge_shards(cfg: MineConfig, shard_dirs: list[Path], output: Path) -> dict[str, Any]:
    """Concatenate `run_shard` outputs in shard order into `output`; return `run`'s summary.

    The folders may come in any order (KFP collects them as the iterations finish on some
    backends); their summaries must name every shard 0..n-1 of one n exactly once.
    """
    shards = []
    for folder in map(Path, shard_dirs):
        meta = read_json(folder / SHARD_SUMMARY)
        if not isinstance(meta, dict) or not {"shard", "num_shards"} <= set(meta):
            raise InputError(f"{folder / SHARD_SUMMARY}: not a mine shard summary (no shard/num_shards)")
        shards.append((int(meta["shard"]), int(meta["num_shards"]), folder, meta))
    shards.sort(key=lambda item: item[0])
    expected = check_complete([(index, total) for index, total, _, _ in shards], "mine")
    counts = {key: 0 for key in _COUNTS}
    corpus_chunks = {meta["corpus_chunks"] for _, _, _, meta in shards}
    if len(corpus_chunks) != 1:
        raise InputError(f"mine: shards searched corpora of different sizes {sorted(corpus_chunks)}")
    output = Path(output)
    with atomic_output(output) as tmp, open(tmp, "wb") as fh:
        for _, _, folder, meta in shards:
            fh.write((folder / SHARD_TUPLES).read_bytes())
            for key in _COUNTS:
                counts[key] += int(meta[key])
    counts["corpus_chunks"] = corpus_chunks.pop()
    return _summary(cfg, counts, output) | {"shards": expected}


def _summary(cfg: MineConfig, counts: dict[str, int], output: Path) -> dict[str, Any]:
    ranks = counts["negative_rank_count"]
    return {"tuples": counts["tuples"], "negatives_per_query": cfg.num_negatives, "method": cfg.method,
            "corpus_chunks": counts["corpus_chunks"],
            "random_fallback_negatives": counts["random_fallback_negatives"],
            "queries_with_short_window": counts["queries_with_short_window"], "teacher": cfg.teacher,
            "mean_negative_rank": round(counts["negative_rank_sum"] / ranks, 2) if ranks else None,
            "output": str(output)}


def _mine(cfg: MineConfig, train_path: Path, chunks_path: Path, seed: int, shard: int = 0,
          num_shards: int = 1) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Tuples for shard `shard` of `num_shards` of the training queries, and their counts.

    Every check covers all training queries and the corpus is always all of their documents'
    chunks, so a shard sees exactly what the unsharded run sees.
    """
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
    rows = rows[shard_slice(len(rows), shard, num_shards)]
    dense = None
    if not rows:
        ranked = []
    elif cfg.method == "bm25":
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
    if cfg.teacher != "none" and tuples:
        _add_teacher_scores(cfg, tuples, dense)
    counts = {"tuples": len(tuples), "corpus_chunks": len(corpus), "random_fallback_negatives": fallbacks,
              "queries_with_short_window": short_windows, "negative_rank_sum": sum(ranks),
              "negative_rank_count": len(ranks)}
    return tuples, counts


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
