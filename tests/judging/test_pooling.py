"""Pooling: the union of each system's top k, in an order no system chose, stable as the pool grows."""

from __future__ import annotations

import pytest

from spladeforge.judging.pooling import new_chunks, pool
from spladeforge.retrieval.chunks import load_chunks
from spladeforge.retrieval.searchers import Bm25Searcher
from tests.judging.corpus import FixedSearcher, write_chunks


def test_union_of_top_k_remembers_the_systems():
    a = FixedSearcher("a", ["c1", "c2", "c3", "c4"])
    b = FixedSearcher("b", ["c3", "c5", "c1", "c6"])
    pooled = pool("some query", {"a": a, "b": b}, k=2)
    assert {c.chunk_id: c.systems for c in pooled} == {"c1": ("a",), "c2": ("a",), "c3": ("b",), "c5": ("b",)}
    deeper = {c.chunk_id: c.systems for c in pool("some query", {"a": a, "b": b}, k=3)}
    assert deeper["c1"] == ("a", "b") and deeper["c3"] == ("a", "b")


def test_order_is_fixed_per_query_and_shows_no_system():
    """Same order on every call; not the systems' order; another query gets another shuffle."""
    ranking = [f"c{i}" for i in range(30)]
    systems = {"a": FixedSearcher("a", ranking)}
    first = [c.chunk_id for c in pool("decode json", systems, k=30)]
    assert first == [c.chunk_id for c in pool("decode json", systems, k=30)]
    assert first != ranking and sorted(first) == sorted(ranking)
    assert first != [c.chunk_id for c in pool("read a csv file", systems, k=30)]
    assert first == [c.chunk_id for c in pool("  Decode   JSON ", systems, k=30)]  # the same query by id


def test_a_new_system_adds_chunks_without_reordering():
    """Incremental pooling: a later model's unjudged chunks join the pool; the rest keep their order."""
    old = {"bm25": FixedSearcher("bm25", ["c1", "c2", "c3"])}
    before = [c.chunk_id for c in pool("q", old, k=3)]
    grown = pool("q", {**old, "model": FixedSearcher("model", ["c3", "c9", "c8"])}, k=3)
    assert [c for c in (x.chunk_id for x in grown) if c in before] == before
    assert [c.chunk_id for c in new_chunks(grown, judged=before)] == [c for c in (x.chunk_id for x in grown)
                                                                      if c in ("c8", "c9")]


def test_pool_with_the_real_bm25(tmp_path):
    chunks = load_chunks(write_chunks(tmp_path / "chunks.jsonl"))
    pooled = pool("read rows of a csv file", {"bm25": Bm25Searcher(chunks),
                                              "fixed": FixedSearcher("fixed", ["gzip-0"])}, k=2)
    ids = {c.chunk_id: c.systems for c in pooled}
    assert ids["gzip-0"] == ("fixed",) and {"csv-0", "csv-1"} <= set(ids)


def test_k_must_be_positive():
    with pytest.raises(ValueError, match="k must be at least 1"):
        pool("q", {"a": FixedSearcher("a", ["c1"])}, k=0)
