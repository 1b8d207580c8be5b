"""Per-query NDCG@10 as the gate reads it: every judged query, checked against MTEB's mean."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from spladeforge.errors import SpladeforgeError
from spladeforge.evaluation.compare import per_query_ndcg

QRELS = {"q1": {"d1": 2}, "q2": {"d2": 1}, "q3": {"d3": 1}}


def test_scores_are_mteb_s_and_their_mean_is_checked():
    task = SimpleNamespace(per_query_ndcg={"q1": 1.0, "q2": 0.5, "q3": 0.25})
    assert per_query_ndcg(task, QRELS, round(1.75 / 3, 5), "model") == {"q1": 1.0, "q2": 0.5, "q3": 0.25}
    with pytest.raises(SpladeforgeError, match="averages 0.58333, MTEB reported 0.6"):
        per_query_ndcg(task, QRELS, 0.6, "model on held-out")


def test_a_query_the_system_returned_nothing_for_counts_as_zero():
    """pytrec_eval leaves it out (and MTEB's mean with it): the gate compares both systems on every query."""
    task = SimpleNamespace(per_query_ndcg={"q1": 1.0, "q2": 0.5})
    assert per_query_ndcg(task, QRELS, 0.75, "model") == {"q1": 1.0, "q2": 0.5, "q3": 0.0}
