"""TREC-style pooling: the union of every system's top k for a query, in an order no system chose.

A judge who could see which system ranked a passage first, or in what order, would be nudged by
it (Voorhees & Harman, "TREC: Experiment and Evaluation in Information Retrieval", 2005, ch. 2).
So the pool is ordered by a hash of the query id and the chunk id: a shuffle fixed per query,
the same on every reload, and stable when the pool grows. A later system (a new model) that
brings unjudged chunks into its top k adds them to the pool without reordering the rest, and
the page offers just those (incremental pooling).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from spladeforge.judging.storage import query_id

if TYPE_CHECKING:
    from spladeforge.retrieval.searchers import Searcher


@dataclass(frozen=True)
class PooledChunk:
    """One pooled chunk and the systems whose top k held it (kept in the log, never shown to the judge)."""

    chunk_id: str
    systems: tuple[str, ...]


def shuffle_key(qid: str, chunk_id: str) -> str:
    return hashlib.sha1(f"{qid}\x00{chunk_id}".encode()).hexdigest()


def pool(query: str, searchers: Mapping[str, Searcher], k: int = 10) -> list[PooledChunk]:
    """The union of each system's top `k` for `query`, deduplicated, in the query's fixed shuffled order."""
    if k < 1:
        raise ValueError(f"k must be at least 1 (got {k})")
    found: dict[str, list[str]] = {}
    for name, searcher in searchers.items():
        for hit in searcher.search(query, k)[:k]:
            found.setdefault(hit.chunk_id, []).append(name)
    qid = query_id(query)
    order = sorted(found, key=lambda chunk_id: shuffle_key(qid, chunk_id))
    return [PooledChunk(chunk_id, tuple(sorted(set(found[chunk_id])))) for chunk_id in order]


def new_chunks(pooled: Iterable[PooledChunk], judged: Iterable[str]) -> list[PooledChunk]:
    """The pooled chunks not judged yet: for a query already judged, what a later system brought in."""
    done = set(judged)
    return [chunk for chunk in pooled if chunk.chunk_id not in done]
