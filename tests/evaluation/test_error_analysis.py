"""Error analysis picks the lowest-NDCG queries and shows both systems' top 3 and the expansion."""

from __future__ import annotations

import math

import pytest

from spladeforge.evaluation.error_analysis import per_query_ndcg, render_errors, worst_queries

CORPUS = {"d1": ("json", "json text"), "d2": ("gzip", "compress"), "d3": ("", "sql")}
QUERIES = {"qa": "json", "qb": "gzip", "qc": "sql"}
QRELS = {"qa": {"d1": 2}, "qb": {"d2": 1}, "qc": {"d3": 1, "d1": 0}}
MODEL = {"qa": {"d1": 3.0, "d2": 1.0}, "qb": {"d1": 2.0, "d2": 1.0}, "qc": {"d1": 2.0, "d2": 1.5, "d3": 1.0}}
BM25 = {"qa": {"d1": 1.0}, "qb": {"d2": 5.0}, "qc": {"d3": 4.0}}


def test_per_query_ndcg_by_hand():
    ndcg = per_query_ndcg(MODEL, QRELS)
    assert ndcg["qa"] == pytest.approx(1.0)
    assert ndcg["qb"] == pytest.approx(1 / math.log2(3))
    assert ndcg["qc"] == pytest.approx(1 / math.log2(4))


def test_worst_queries_lowest_first_with_both_top_lists_and_expansion():
    items = worst_queries(MODEL, QRELS, QUERIES, CORPUS, 2, bm25_run=BM25,
                          decode=lambda texts: [[(t, 1.0)] for t in texts])
    assert [i["query_id"] for i in items] == ["qc", "qb"]
    assert [d["id"] for d in items[0]["model_top"]] == ["d1", "d2", "d3"]
    assert items[0]["model_top"][0]["grade"] == 0
    assert items[0]["bm25_top"][0] == {"id": "d3", "score": 4.0, "grade": 1, "text": "sql"}
    assert items[0]["expansion"] == [{"term": "sql", "weight": 1.0}]
    text = render_errors(items)
    assert "## qc: sql" in text and "BM25 top 3" in text and "Expansion: sql 1.00" in text
