"""An inverted index over sparse document vectors (SPLADE weights), searched by dot product.

The index is the transpose of the document matrix in CSR form: row j holds the posting list of
vocabulary entry j (document ids and weights). A query batch [n, vocab] times the index
[vocab, docs] touches only the posting lists of the query's active terms, which is what makes
sparse retrieval cheap. scipy.sparse does the arithmetic; what it lacks is top-k selection,
written here with `argpartition`.

    index = SparseIndex.build(doc_vectors)          # scipy.sparse or torch sparse, [docs, vocab]
    ids, scores = index.search(query_vectors, k=10) # [queries, k] each, best first
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

# Queries scored at once: bounds the dense [batch, docs] score block to batch x docs floats.
QUERY_BATCH = 256


def to_csr(vectors: Any) -> sp.csr_matrix:
    """A scipy CSR matrix (float32) from a scipy matrix, a torch tensor (sparse or dense) or an array."""
    if sp.issparse(vectors):
        return sp.csr_matrix(vectors, dtype=np.float32)
    if hasattr(vectors, "is_sparse") and vectors.is_sparse:  # torch sparse COO
        coo = vectors.detach().cpu().coalesce()
        rows, cols = coo.indices().numpy()
        return sp.csr_matrix((coo.values().float().numpy(), (rows, cols)), shape=tuple(coo.shape))
    if hasattr(vectors, "detach"):
        vectors = vectors.detach().cpu().numpy()
    return sp.csr_matrix(np.asarray(vectors, dtype=np.float32))


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top k of a dense [n, docs] score block: (ids, scores), best first, ties by lower id."""
    k = min(k, scores.shape[1])
    if k == 0:
        return np.empty((scores.shape[0], 0), np.int64), np.empty((scores.shape[0], 0), scores.dtype)
    if k < scores.shape[1]:
        candidates = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        # argpartition breaks ties at the cut arbitrarily: re-select among everything >= the kth score.
        kth = np.take_along_axis(scores, candidates, axis=1).min(axis=1, keepdims=True)
        ids = np.empty((scores.shape[0], k), np.int64)
        for row in range(scores.shape[0]):
            pool = np.flatnonzero(scores[row] >= kth[row])
            ids[row] = pool[np.lexsort((pool, -scores[row, pool]))][:k]
    else:
        ids = np.argsort(-scores, axis=1, kind="stable")
    return ids, np.take_along_axis(scores, ids, axis=1)


class SparseIndex:
    """Posting lists of a [docs, vocab] sparse matrix; `search` ranks documents by dot product."""

    def __init__(self, postings: sp.csr_matrix) -> None:
        self.postings = postings  # [vocab, docs]

    @classmethod
    def build(cls, doc_vectors: Any) -> SparseIndex:
        """Index sparse document vectors [docs, vocab] (scipy, torch sparse or dense)."""
        docs = to_csr(doc_vectors)
        docs.eliminate_zeros()
        return cls(docs.T.tocsr())

    @property
    def num_documents(self) -> int:
        return self.postings.shape[1]

    @property
    def vocab_size(self) -> int:
        return self.postings.shape[0]

    @property
    def nbytes(self) -> int:
        """Bytes of the posting lists: weights, document ids and row offsets."""
        return int(self.postings.data.nbytes + self.postings.indices.nbytes + self.postings.indptr.nbytes)

    def search(self, query_vectors: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (document ids, scores), each [queries, min(k, docs)], best first."""
        queries = to_csr(query_vectors)
        if queries.shape[1] != self.vocab_size:
            raise ValueError(f"query vectors have {queries.shape[1]} dimensions, the index {self.vocab_size}")
        ids, scores = [], []
        for start in range(0, queries.shape[0], QUERY_BATCH):
            block = (queries[start:start + QUERY_BATCH] @ self.postings).toarray()
            block_ids, block_scores = top_k(block, k)
            ids.append(block_ids)
            scores.append(block_scores)
        if not ids:
            return np.empty((0, min(k, self.num_documents)), np.int64), np.empty((0, 0), np.float32)
        return np.concatenate(ids), np.concatenate(scores)


class DenseIndex:
    """The same interface over dense document embeddings (exhaustive dot product)."""

    def __init__(self, doc_vectors: Any) -> None:
        if hasattr(doc_vectors, "detach"):
            doc_vectors = doc_vectors.detach().cpu().numpy()
        self.docs = np.asarray(doc_vectors, dtype=np.float32)

    @property
    def nbytes(self) -> int:
        return int(self.docs.nbytes)

    def search(self, query_vectors: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        if hasattr(query_vectors, "detach"):
            query_vectors = query_vectors.detach().cpu().numpy()
        return top_k(np.asarray(query_vectors, dtype=np.float32) @ self.docs.T, k)
