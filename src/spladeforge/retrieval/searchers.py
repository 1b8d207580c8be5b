"""Search the chunk corpus with one named system: `open_searcher(name, chunks_path).search(query)`.

    searcher = open_searcher("model", Path("data/chunks.jsonl"))   # models/splade
    for hit in searcher.search("decode json", k=10):                # [Hit(chunk_id, score, rank)]
        ...

Names: `bm25`, `dense` (evaluate.dense_model), `base` (the trained model's base, as evaluate
scores it), `model` (models/splade), `champion` (the registry's champion), `int8` (the INT8 ONNX
export), or the path of any model folder (a SparseEncoder folder or an ONNX export). Sparse and
dense systems encode the corpus once per model and corpus (`index_cache`) and rank through the
project's own indexes (`sparse_index`); BM25 is bm25s with the mining and evaluation settings
(`retrieval.bm25`), indexed in memory (it takes a second).

Sparse and BM25 hits with score 0 are left out: nothing of the query matched them, so their
order would be arbitrary. A dense system ranks every chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import scipy.sparse as sp

from spladeforge.errors import InputError
from spladeforge.retrieval import systems
from spladeforge.retrieval.chunks import Chunks, load_chunks
from spladeforge.retrieval.index_cache import cached_vectors
from spladeforge.retrieval.sparse_index import DenseIndex, SparseIndex, to_csr
from spladeforge.retrieval.systems import SparseModel

if TYPE_CHECKING:
    from spladeforge.config import Params

DEFAULT_MODEL_DIR = Path("models/splade")
DEFAULT_INT8_DIR = Path("models/splade-int8")
DEFAULT_CACHE_DIR = Path(".spladeforge/index")


@dataclass(frozen=True)
class Hit:
    """One ranked chunk."""

    chunk_id: str
    score: float
    rank: int  # 1-based


class Searcher(Protocol):
    name: str  # "bm25" | "dense" | "base" | "model" | "champion" | "int8" | a folder name

    def search(self, query: str, k: int = 10) -> list[Hit]: ...


def check_query(query: str) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InputError("empty query: give the words to search for, e.g. spladeforge search \"read a csv file\"")
    return query.strip()


def _hits(chunks: Chunks, rows: np.ndarray, scores: np.ndarray, *, positive_only: bool) -> list[Hit]:
    ids = chunks.ids
    hits = []
    for row, score in zip(rows.tolist(), scores.tolist(), strict=True):
        if positive_only and score <= 0:
            continue
        hits.append(Hit(ids[row], float(score), len(hits) + 1))
    return hits


class SparseSearcher:
    """A sparse encoder over the chunks: document vectors from the cache, dot product over posting lists."""

    kind = "sparse"

    def __init__(self, name: str, model: SparseModel, chunks: Chunks, cache_dir: Path) -> None:
        self.name, self.model, self.chunks = name, model, chunks
        self.doc_vectors, self.built = cached_vectors(
            cache_dir, system=name, model=model.key, corpus=chunks.sha256, chunk_ids=chunks.ids, dense=False,
            encode=self._encode_documents, source=model.source)
        self.doc_vectors = sp.csr_matrix(self.doc_vectors, dtype=np.float32)
        self.index = SparseIndex.build(self.doc_vectors)

    def _encode_documents(self) -> Any:
        return self.model.encoder.encode_document(self.chunks.passages(), batch_size=self.model.batch_size,
                                                  show_progress_bar=True, convert_to_sparse_tensor=True)

    @property
    def inference_free(self) -> bool:
        return self.model.static_queries is not None or getattr(self.model.encoder, "static_queries", None) is not None

    def query_vector(self, query: str) -> sp.csr_matrix:
        """The query's [1, dims] sparse vector (an inference-free model's is a table lookup)."""
        query = check_query(query)
        vocab = self.doc_vectors.shape[1]
        if self.model.static_queries is not None:
            ids, weights = self.model.static_queries.encode(query)
            return sp.csr_matrix((weights.astype(np.float32), (np.zeros(len(ids), np.int64), ids)), shape=(1, vocab))
        vector = to_csr(self.model.encoder.encode_query([query], convert_to_sparse_tensor=True))
        vector.eliminate_zeros()
        return vector

    def search(self, query: str, k: int = 10) -> list[Hit]:
        rows, scores = self.index.search(self.query_vector(query), k)
        return _hits(self.chunks, rows[0], scores[0], positive_only=True)

    def document_vector(self, chunk_id: str) -> sp.csr_matrix:
        return self.doc_vectors[self.chunks.rows[chunk_id]]

    def token_names(self, ids: list[int]) -> list[str]:
        if self.model.latent or self.model.tokenizer is None:
            return [str(i) for i in ids]
        return [str(token) for token in self.model.tokenizer.convert_ids_to_tokens(list(ids))]


class DenseSearcher:
    """A dense sentence-transformers model over the chunks: normalized embeddings, exhaustive dot product."""

    kind = "dense"

    def __init__(self, name: str, encoder: Any, key: str, source: str, chunks: Chunks, cache_dir: Path,
                 batch_size: int = 32) -> None:
        self.name, self.encoder, self.chunks, self.batch_size = name, encoder, chunks, batch_size
        vectors, self.built = cached_vectors(
            cache_dir, system=name, model=key, corpus=chunks.sha256, chunk_ids=chunks.ids, dense=True,
            encode=lambda: self._encode(chunks.passages(), progress=True), source=source)
        self.index = DenseIndex(vectors)

    def _encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        return self.encoder.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                   normalize_embeddings=True, show_progress_bar=progress)

    def search(self, query: str, k: int = 10) -> list[Hit]:
        rows, scores = self.index.search(self._encode([check_query(query)]), k)
        return _hits(self.chunks, rows[0], scores[0], positive_only=False)


class Bm25Searcher:
    """BM25 (bm25s, English stopwords and stemmer, k1 1.5, b 0.75) over the chunks' passages."""

    kind = "bm25"

    def __init__(self, chunks: Chunks, name: str = "bm25") -> None:
        from spladeforge.retrieval.bm25 import BM25Index

        self.name, self.chunks = name, chunks
        self.index = BM25Index(chunks.passages())

    def search(self, query: str, k: int = 10) -> list[Hit]:
        rows, scores = self.index.search([check_query(query)], k)
        return _hits(self.chunks, rows[0], scores[0], positive_only=True)


def open_searcher(name: str, chunks_path: Path, *, model_dir: Path = DEFAULT_MODEL_DIR,
                  int8_dir: Path = DEFAULT_INT8_DIR, cache_dir: Path = DEFAULT_CACHE_DIR,
                  params: Params | None = None, chunks: Chunks | None = None) -> Searcher:
    """The system `name` over the chunks of `chunks_path`, its index built (or read from the cache).

    `params` supplies evaluate.dense_model, evaluate.batch_size, register's registry settings and
    train.base_model (default: params.yaml when it exists, else the defaults). `chunks`, when
    given, is the already loaded `chunks_path` (opening several systems reads the file once).
    """
    chunks = chunks if chunks is not None else load_chunks(chunks_path)
    params = params if params is not None else systems.default_params()
    cache_dir = Path(cache_dir)
    if name == "bm25":
        return Bm25Searcher(chunks)
    if name == "dense":
        encoder, key, source = systems.dense_encoder(params, model_dir)
        return DenseSearcher("dense", encoder, key, source, chunks, cache_dir, params.evaluate.batch_size)
    batch_size = params.evaluate.batch_size
    if name == "model":
        model = systems.saved_model(model_dir, batch_size, fused_head=params.evaluate.fused_head)
    elif name == "base":
        model = systems.base_model(model_dir, params, batch_size)
    elif name == "int8":
        model = systems.onnx_model(int8_dir, batch_size, key="int8")
    elif name == "champion":
        model = systems.champion_model(params, batch_size)
    else:
        model = systems.folder_model(Path(name), batch_size, fused_head=params.evaluate.fused_head)
        name = Path(name).name or name
    return SparseSearcher(name, model, chunks, cache_dir)
