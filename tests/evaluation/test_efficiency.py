"""FLOPS, active dimensions and sparsity checked by hand on a tiny example."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from spladeforge.evaluation.efficiency import flops, latency_percentiles, sparsity_stats

# Vocabulary of 5. Queries: q1 on terms {0, 1}, q2 on {1}. Documents: d1 {1, 2}, d2 {1, 3}, d3 {0}, d4 {4}.
QUERIES = sp.csr_matrix(np.array([[0.5, 1.0, 0, 0, 0], [0, 2.0, 0, 0, 0]], dtype=np.float32))
DOCS = sp.csr_matrix(np.array([[0, 1, 1, 0, 0], [0, 3, 0, 1, 0], [2, 0, 0, 0, 0], [0, 0, 0, 0, 1]],
                              dtype=np.float32))


def test_flops_is_the_expected_number_of_shared_terms():
    """p_q = (1/2, 1, 0, 0, 0), p_d = (1/4, 2/4, 1/4, 1/4, 1/4): 1/2 * 1/4 + 1 * 1/2 = 0.625;
    the same as counting shared active terms over all 2 x 4 pairs: (1+1+1+0 + 1+1+0+0) / 8."""
    assert flops(QUERIES, DOCS) == pytest.approx(0.625)
    shared = (QUERIES != 0).astype(int) @ (DOCS != 0).astype(int).T
    assert shared.sum() / 8 == pytest.approx(0.625)


def test_active_dims_and_sparsity():
    stats = sparsity_stats(QUERIES, DOCS)
    assert stats["query_active_dims"] == pytest.approx(1.5)
    assert stats["doc_active_dims"] == pytest.approx(1.5)  # (2 + 2 + 1 + 1) / 4
    assert stats["query_sparsity"] == pytest.approx(1 - 1.5 / 5)
    assert stats["doc_sparsity"] == pytest.approx(1 - 1.5 / 5)
    assert stats["flops"] == pytest.approx(0.625)


def test_explicit_zeros_are_not_active():
    weights = np.array([0.0, 1.0], dtype=np.float32)  # an explicitly stored zero on term 0
    docs = sp.csr_matrix((weights, np.array([0, 1]), np.array([0, 2])), shape=(1, 5))
    assert sparsity_stats(QUERIES, docs)["doc_active_dims"] == 1.0
    assert flops(QUERIES, docs) == pytest.approx(1 * 1.0 + 0.5 * 0.0)


def test_latency_percentiles_in_milliseconds():
    result = latency_percentiles([i / 1000 for i in range(1, 101)])  # 1..100 ms
    assert result["latency_p50_ms"] == pytest.approx(50.5)
    assert result["latency_p99_ms"] == pytest.approx(99.01)
    assert latency_percentiles([]) == {}
