"""The inverted index returns exactly what a dense matrix product would, and says what it costs."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from spladeforge.retrieval.sparse_index import DenseIndex, SparseIndex, to_csr, top_k


def _random_sparse(rows: int, cols: int, density: float, seed: int) -> sp.csr_matrix:
    return sp.random(rows, cols, density=density, format="csr", dtype=np.float32, random_state=seed)


def test_top_k_equals_the_dense_matrix_product():
    """Same ids and scores as ranking Q @ D.T densely, ties broken by the lower document id."""
    docs, queries = _random_sparse(300, 500, 0.02, 0), _random_sparse(20, 500, 0.05, 1)
    ids, scores = SparseIndex.build(docs).search(queries, k=10)
    dense = (queries @ docs.T).toarray()
    expected = np.array([sorted(range(300), key=lambda d: (-dense[q, d], d))[:10] for q in range(20)])
    np.testing.assert_array_equal(ids, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(dense, expected, axis=1), rtol=1e-6)


def test_accepts_torch_sparse_and_caps_k_at_the_corpus_size():
    docs = torch.tensor([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]]).to_sparse()
    ids, scores = SparseIndex.build(docs).search(torch.tensor([[0.0, 1.0, 1.0]]).to_sparse(), k=5)
    assert ids.tolist() == [[1, 0]] and scores.tolist() == [[3.0, 2.0]]


def test_index_size_counts_the_posting_lists():
    """Two documents, three non-zero weights over a vocabulary of 4: 3 weights, 3 ids, 5 offsets."""
    index = SparseIndex.build(sp.csr_matrix(np.array([[1, 0, 2, 0], [0, 0, 3, 0]], dtype=np.float32)))
    assert index.postings.shape == (4, 2)
    assert index.nbytes == 3 * 4 + 3 * index.postings.indices.itemsize + 5 * index.postings.indptr.itemsize


def test_query_of_another_vocabulary_is_refused():
    with pytest.raises(ValueError, match="3 dimensions, the index 4"):
        SparseIndex.build(sp.eye(4, format="csr")).search(np.ones((1, 3)), k=1)


def test_dense_index_and_top_k_ties():
    ids, scores = DenseIndex(np.eye(3)).search(np.array([[1.0, 1.0, 0.0]]), k=2)
    assert ids.tolist() == [[0, 1]] and scores.tolist() == [[1.0, 1.0]]
    ids, _ = top_k(np.array([[0.5, 0.9, 0.5, 0.5]]), 2)
    assert ids.tolist() == [[1, 0]]
    assert to_csr(np.zeros((2, 3))).nnz == 0
