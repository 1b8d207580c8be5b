"""Mining in shards (the Kubeflow DAG's fan-out): each shard's output folder, and their merge.

A shard folder holds `tuples.jsonl` (the shard's lines of the unsharded output) and
`summary.json` (its position, shard i of n, and its `MiningCounts`). Folders may be collected in
any order (KFP gathers them as the iterations finish on some backends); their summaries put them
back in shard order, and must name every shard 0..n-1 of one n exactly once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from spladeforge.errors import InputError
from spladeforge.io import read_json
from spladeforge.mining.negatives import MiningCounts
from spladeforge.shards import check_complete

SHARD_TUPLES = "tuples.jsonl"
SHARD_SUMMARY = "summary.json"
# Added up over the shards; `corpus_chunks` is not: every shard searched the same corpus.
_SUMMED = tuple(f.name for f in fields(MiningCounts) if f.name != "corpus_chunks")


@dataclass(frozen=True)
class MinedShard:
    index: int  # shard i ...
    total: int  # ... of n
    folder: Path
    counts: MiningCounts


def shard_summary(shard: int, num_shards: int, counts: MiningCounts) -> dict[str, Any]:
    """What `summary.json` of a shard folder holds."""
    return {"shard": shard, "num_shards": num_shards, **asdict(counts)}


def read_shard(folder: Path) -> MinedShard:
    meta = read_json(folder / SHARD_SUMMARY)
    if not isinstance(meta, dict) or not {"shard", "num_shards"} <= set(meta):
        raise InputError(f"{folder / SHARD_SUMMARY}: not a mine shard summary (no shard/num_shards)")
    counts = MiningCounts(**{f.name: int(meta[f.name]) for f in fields(MiningCounts)})
    return MinedShard(int(meta["shard"]), int(meta["num_shards"]), folder, counts)


def in_shard_order(shards: list[MinedShard]) -> list[MinedShard]:
    """`shards` sorted by index, checked to be each of 0..n-1 of one n once, over one corpus."""
    shards = sorted(shards, key=lambda s: s.index)
    check_complete([(s.index, s.total) for s in shards], "mine")
    corpus_chunks = {s.counts.corpus_chunks for s in shards}
    if len(corpus_chunks) != 1:
        raise InputError(f"mine: shards searched corpora of different sizes {sorted(corpus_chunks)}")
    return shards


def merged_counts(shards: list[MinedShard]) -> MiningCounts:
    """The counts of the unsharded run: the shards' counts added up."""
    summed = {name: sum(getattr(s.counts, name) for s in shards) for name in _SUMMED}
    return MiningCounts(corpus_chunks=shards[0].counts.corpus_chunks, **summed)
