"""MTEB search models that retrieve through spladeforge's own indexes, and their hybrid.

`IndexedSearch` wraps a sparse encoder (SparseEncoder, the INT8 `OnnxSparseEncoder`) or a dense
SentenceTransformer: `index` encodes the corpus once into a `SparseIndex` (posting lists) or a
`DenseIndex`, `search` encodes the queries and ranks over it. MTEB still scores the rankings, so
the figures are MTEB's; what this adds over MTEB's own wrappers is what the report needs: the
document and query vectors (active dimensions, FLOPS), the index size, the encoding speed, the
per-query latency, and the runs themselves for fusion and error analysis.

`HybridSearch` fuses two indexed systems' runs (min-max per query) without encoding anything again.

A corpus encoded elsewhere (the Kubeflow DAG encodes the held-out corpus in shards with
`encode_documents`) is handed over with `use_documents`: `index` then builds the same index from
those vectors instead of encoding that corpus again.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from mteb.models.model_meta import ModelMeta

from spladeforge.evaluation.efficiency import latency_percentiles, sparsity_stats
from spladeforge.evaluation.fusion import Run, fuse
from spladeforge.retrieval.sparse_index import DenseIndex, SparseIndex, to_csr

Kind = Literal["sparse", "dense"]


def _meta(name: str, model_type: str) -> ModelMeta:
    return ModelMeta.create_empty(overwrites={
        "name": f"spladeforge/{name}", "revision": "local", "model_type": [model_type],
        "framework": ["Sentence Transformers", "PyTorch"],
    })


def passages(corpus: Any) -> list[str]:
    """"title text" as MTEB's encoder path joins them (and as training saw them)."""
    return [f"{row.get('title') or ''} {row['text']}".strip() for row in corpus]


class IndexedSearch:
    """An MTEB search model: encode the corpus into an index once, rank each query over it."""

    def __init__(self, encoder: Any, name: str, kind: Kind, batch_size: int = 32) -> None:
        if kind not in ("sparse", "dense"):
            raise ValueError(f"kind must be 'sparse' or 'dense', got {kind!r}")
        self.encoder, self.name, self.kind, self.batch_size = encoder, name, kind, batch_size
        self.mteb_model_meta = _meta(name, kind)
        self.doc_ids: list[str] = []
        self.query_ids: list[str] = []
        self.run: Run = {}
        self.index_ = None
        self.doc_vectors = self.query_vectors = None
        self.doc_seconds = 0.0
        # `use_documents`: row of each document id, the [docs, vocab] CSR, the seconds encoding took.
        self.precomputed_rows: dict[str, int] | None = None
        self.precomputed_vectors: Any = None
        self.precomputed_seconds = 0.0

    def encode_documents(self, texts: list[str]) -> Any:
        """Document vectors for `texts`, exactly as `index` encodes a corpus."""
        return self._encode(texts, query=False)

    def use_documents(self, doc_ids: list[str], vectors: Any, seconds: float = 0.0) -> None:
        """Index a corpus with exactly these document ids from `vectors` ([docs, vocab] sparse rows,
        in `doc_ids` order) instead of encoding it; `seconds` is what encoding them took."""
        if self.kind != "sparse":
            raise ValueError("precomputed document vectors are supported for sparse systems only")
        matrix = to_csr(vectors)
        if matrix.shape[0] != len(doc_ids) or len(set(doc_ids)) != len(doc_ids):
            raise ValueError(f"{len(doc_ids)} document ids (distinct: {len(set(doc_ids))}) for "
                             f"{matrix.shape[0]} vectors")
        self.precomputed_rows = {doc_id: row for row, doc_id in enumerate(doc_ids)}
        self.precomputed_vectors, self.precomputed_seconds = matrix, seconds

    def _encode(self, texts: list[str], *, query: bool) -> Any:
        encode = self.encoder.encode_query if query else self.encoder.encode_document
        if self.kind == "sparse":
            return encode(texts, batch_size=self.batch_size, convert_to_sparse_tensor=True)
        return encode(texts, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True)

    def index(self, corpus: Any, *, task_metadata: Any = None, hf_split: str = "", hf_subset: str = "",
              encode_kwargs: Any = None, num_proc: int | None = None, **kwargs: Any) -> None:
        ids = list(corpus["id"])
        if ids == self.doc_ids and self.index_ is not None:
            return  # the same corpus again (the hybrid's component): keep the index
        rows = self._precomputed_rows(ids)
        if rows is not None:
            self.doc_vectors = self.precomputed_vectors[rows]
            self.doc_seconds = self.precomputed_seconds
        else:
            start = time.perf_counter()
            self.doc_vectors = self.encode_documents(passages(corpus))
            self.doc_seconds = time.perf_counter() - start
        if self.kind == "sparse":
            self.index_ = SparseIndex.build(self.doc_vectors)
        else:
            self.index_ = DenseIndex(self.doc_vectors)
        self.doc_ids = ids
        self.query_ids, self.run = [], {}

    def _precomputed_rows(self, ids: list[str]) -> list[int] | None:
        """Rows of the precomputed vectors in the order of `ids`, if they are exactly that corpus."""
        positions = self.precomputed_rows
        if positions is None or len(ids) != len(positions) or any(doc_id not in positions for doc_id in ids):
            return None  # another task's corpus: encode it
        return [positions[doc_id] for doc_id in ids]

    def search(self, queries: Any, *, task_metadata: Any = None, hf_split: str = "", hf_subset: str = "",
               top_k: int = 1000, encode_kwargs: Any = None, top_ranked: Any = None,
               num_proc: int | None = None, **kwargs: Any) -> Run:
        ids = list(queries["id"])
        depth = len(next(iter(self.run.values()))) if self.run else 0
        if ids == self.query_ids and depth >= min(top_k, len(self.doc_ids)):
            return self.run  # already ranked (the hybrid reusing its component's run)
        self.query_vectors = self._encode(list(queries["text"]), query=True)
        rows, scores = self.index_.search(self.query_vectors, top_k)
        self.query_ids = ids
        self.run = {qid: {self.doc_ids[d]: float(s) for d, s in zip(rows[i], scores[i], strict=True)}
                    for i, qid in enumerate(ids)}
        return self.run

    def stats(self) -> dict[str, float]:
        """Encoding speed, index size and, for sparse systems, active dims, sparsity and FLOPS."""
        stats = {"docs_per_second": len(self.doc_ids) / self.doc_seconds if self.doc_seconds else 0.0,
                 "index_bytes": float(self.index_.nbytes) if self.index_ is not None else 0.0}
        if self.kind == "sparse" and self.doc_vectors is not None and self.query_vectors is not None:
            stats.update(sparsity_stats(self.query_vectors, self.doc_vectors))
        return stats

    def measure_latency(self, texts: list[str], k: int = 10) -> tuple[dict[str, float], list[float]]:
        """Per query, one at a time: encode it and take its top k from the index. Needs `index` first."""
        seconds = []
        for text in texts:
            start = time.perf_counter()
            vector = self._encode([text], query=True)
            self.index_.search(vector, k)
            seconds.append(time.perf_counter() - start)
        return latency_percentiles(seconds), seconds


class HybridSearch:
    """`weight * minmax(sparse) + (1 - weight) * minmax(dense)` over the two systems' runs."""

    def __init__(self, sparse: IndexedSearch, dense: IndexedSearch, weight: float,
                 name: str = "hybrid") -> None:
        self.sparse, self.dense, self.weight, self.name = sparse, dense, weight, name
        self.mteb_model_meta = _meta(name, "sparse")
        self.run: Run = {}

    def index(self, corpus: Any, **kwargs: Any) -> None:
        self.sparse.index(corpus, **kwargs)
        self.dense.index(corpus, **kwargs)

    def search(self, queries: Any, *, top_k: int = 1000, **kwargs: Any) -> Run:
        runs = [system.search(queries, top_k=top_k, **kwargs) for system in (self.sparse, self.dense)]
        self.run = fuse(*runs, weight=self.weight, k=top_k)
        return self.run


class RecordingSearch:
    """Any MTEB search model (e.g. BM25), keeping its last run for fusion and error analysis."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.mteb_model_meta = inner.mteb_model_meta
        self.run: Run = {}

    def index(self, corpus: Any, **kwargs: Any) -> None:
        self.inner.index(corpus, **kwargs)

    def search(self, queries: Any, **kwargs: Any) -> Run:
        self.run = self.inner.search(queries, **kwargs)
        return self.run
