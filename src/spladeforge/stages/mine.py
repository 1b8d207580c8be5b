"""mine: hard negatives for each training query, from `train.jsonl` and `chunks.jsonl`.

Writes the training tuples (JSONL: query_id, anchor, positive, positive_id, negative_ids,
negative_1..n, and `scores` with a teacher) that `train` reads. The algorithm lives in
`spladeforge.mining`: the rank window, the skipped positive document and the random fill-in in
`mining.negatives`, the rankers in `mining.bm25` and `mining.dense`, teacher scores in
`mining.teacher`, the ensemble teacher's dev report in `mining.teacher_report`. BM25 tokenizes for
the corpus language ingest recorded in `documents.meta.json` (English without it).

For large corpora the Kubeflow DAG mines in shards: `run_shard` mines shard i of n of the
training queries (a contiguous block, searched against the whole chunk corpus) into a folder
(`mining.shards`), and `merge_shards` concatenates the shards in shard order. The merged tuples
file is byte-identical to `run`'s with the same seed (BM25 mining without a teacher).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spladeforge.config import MineConfig
from spladeforge.io import atomic_output, iter_jsonl, write_json, write_jsonl
from spladeforge.language import corpus_language
from spladeforge.mining.ensemble import Scorers
from spladeforge.mining.negatives import MiningCounts, mine_tuples
from spladeforge.mining.shards import (
    SHARD_SUMMARY,
    SHARD_TUPLES,
    in_shard_order,
    merged_counts,
    read_shard,
    shard_summary,
)
from spladeforge.mining.teacher_report import teacher_report
from spladeforge.shards import shard_slice


def run(cfg: MineConfig, train_path: Path, chunks_path: Path, output: Path, seed: int,
        dev: Path | None = None, documents_meta: Path | None = None) -> dict[str, Any]:
    """Mine every training query; write the tuples to `output` (JSONL) and return a summary.

    With the ensemble teacher and `dev` (the dev split's BEIR folder), the summary's `teacher`
    section scores each member, the ensemble and the base model as retrievers on dev
    (`mining.teacher_report`), with the models loaded once for mining and the report.
    """
    language_code = corpus_language(documents_meta)
    scorers = None
    if dev is not None and cfg.teacher == "ensemble":
        scorers = Scorers(cfg, {*cfg.ensemble, "base"}, language_code)
    tuples, counts = _mine(cfg, Path(train_path), Path(chunks_path), seed, scorers=scorers,
                           documents_meta=documents_meta)
    report = teacher_report(cfg, scorers, Path(dev)) if scorers is not None else None
    write_jsonl(output, tuples)
    summary = counts.summary(cfg, output)
    return summary | {"teacher_report": report} if report else summary


def run_shard(cfg: MineConfig, train_path: Path, chunks_path: Path, out_dir: Path, seed: int,
              shard: int, num_shards: int, documents_meta: Path | None = None) -> dict[str, Any]:
    """Mine shard `shard` of `num_shards` of the training queries into `out_dir`.

    `out_dir` holds `tuples.jsonl` (this shard's lines of `run`'s output) and `summary.json`
    (the shard's position and counts, which `merge_shards` adds up). An empty shard is valid.
    """
    shard_slice(0, shard, num_shards)  # a bad shard number fails before any reading
    tuples, counts = _mine(cfg, Path(train_path), Path(chunks_path), seed, shard, num_shards, documents_meta)
    out_dir = Path(out_dir)
    with atomic_output(out_dir, directory=True) as tmp:
        write_jsonl(tmp / SHARD_TUPLES, tuples)
        write_json(tmp / SHARD_SUMMARY, shard_summary(shard, num_shards, counts))
    return counts.summary(cfg, out_dir / SHARD_TUPLES) | {"shard": shard, "num_shards": num_shards}


def merge_shards(cfg: MineConfig, shard_dirs: list[Path], output: Path) -> dict[str, Any]:
    """Concatenate `run_shard` outputs in shard order into `output`; return `run`'s summary.

    The folders may come in any order; their summaries must name every shard 0..n-1 of one n
    exactly once.
    """
    shards = in_shard_order([read_shard(folder) for folder in map(Path, shard_dirs)])
    output = Path(output)
    with atomic_output(output) as tmp, open(tmp, "wb") as fh:
        for shard in shards:
            fh.write((shard.folder / SHARD_TUPLES).read_bytes())
    return merged_counts(shards).summary(cfg, output) | {"shards": len(shards)}


def _mine(cfg: MineConfig, train_path: Path, chunks_path: Path, seed: int, shard: int = 0,
          num_shards: int = 1, scorers: Scorers | None = None,
          documents_meta: Path | None = None) -> tuple[list[dict[str, Any]], MiningCounts]:
    rows = list(iter_jsonl(train_path, required=("query_id", "query", "chunk_id", "doc_id")))
    chunks = iter_jsonl(chunks_path, required=("id", "doc_id", "text"))  # read once rows are checked
    return mine_tuples(cfg, rows, chunks, seed, train_path=train_path, chunks_path=chunks_path,
                       shard=shard, num_shards=num_shards, scorers=scorers,
                       language_code=corpus_language(documents_meta))
