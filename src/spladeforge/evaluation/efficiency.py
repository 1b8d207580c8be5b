"""What a sparse model costs: active dimensions, sparsity, FLOPS, index size, latency percentiles.

FLOPS is the expected number of multiplications per query-document pair when scoring with an
inverted index, sum_j p_q(j) * p_d(j) over the vocabulary, where p_q(j) (p_d(j)) is the share of
queries (documents) whose vector is non-zero on term j (Paria et al. 2020, "Minimizing FLOPs to
learn efficient sparse representations"; SPLADE, Formal et al. 2021, section 4).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spladeforge.retrieval.sparse_index import to_csr

PERCENTILES = (50, 95, 99)


def sparsity_stats(query_vectors: Any, doc_vectors: Any) -> dict[str, float]:
    """Mean active dimensions, sparsity ratio (1 - active/vocab) and FLOPS of two sparse batches."""
    queries, docs = to_csr(query_vectors), to_csr(doc_vectors)
    queries.eliminate_zeros()
    docs.eliminate_zeros()
    vocab = docs.shape[1]
    q_active = queries.getnnz(axis=1).mean() if queries.shape[0] else 0.0
    d_active = docs.getnnz(axis=1).mean() if docs.shape[0] else 0.0
    return {
        "query_active_dims": float(q_active),
        "doc_active_dims": float(d_active),
        "query_sparsity": 1.0 - float(q_active) / vocab,
        "doc_sparsity": 1.0 - float(d_active) / vocab,
        "flops": flops(queries, docs),
    }


def flops(query_vectors: Any, doc_vectors: Any) -> float:
    """sum_j p_q(j) p_d(j): expected multiplications per query-document pair."""
    queries, docs = to_csr(query_vectors), to_csr(doc_vectors)
    if not queries.shape[0] or not docs.shape[0]:
        return 0.0
    p_q = np.bincount(queries.indices[queries.data != 0], minlength=queries.shape[1]) / queries.shape[0]
    p_d = np.bincount(docs.indices[docs.data != 0], minlength=docs.shape[1]) / docs.shape[0]
    return float(p_q @ p_d)


def latency_percentiles(seconds: list[float] | np.ndarray) -> dict[str, float]:
    """p50/p95/p99 in milliseconds (numpy's linear interpolation)."""
    values = np.asarray(seconds, dtype=float) * 1000.0
    if not values.size:
        return {}
    return {f"latency_p{p}_ms": float(np.percentile(values, p)) for p in PERCENTILES}
