"""Document embeddings computed in shards: the file format between `encode_documents` and evaluate.

For large corpora the Kubeflow DAG encodes the held-out corpus with the trained model in shards
(one file per shard) and hands the files to evaluate, whose `model` system then indexes those
vectors instead of encoding the corpus itself. They are the vectors evaluate would compute (same
encoder, same passages), up to the float rounding of other batch compositions.

A shard file is an `.npz`: the CSR arrays (`data`, `indices`, `indptr`, `shape`), the document ids
in row order (`doc_ids`) and `meta` (JSON: format, shard, num_shards, the model folder's hash,
encoding seconds). Shards are contiguous blocks of corpus.jsonl (`shards.shard_slice`); an empty
shard writes an empty matrix.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from spladeforge.errors import InputError
from spladeforge.io import atomic_output
from spladeforge.retrieval.sparse_index import to_csr
from spladeforge.shards import check_complete
from spladeforge.text import passage

if TYPE_CHECKING:  # search imports MTEB, which reading shard files does not need
    from spladeforge.evaluation.search import IndexedSearch

EMBEDDINGS_FORMAT = "spladeforge-document-embeddings/1"


class DocumentEmbeddings(NamedTuple):
    """A whole corpus's document vectors, as `IndexedSearch.use_documents` takes them."""

    doc_ids: list[str]
    vectors: sp.csr_matrix  # [docs, vocab], rows in `doc_ids` order
    seconds: float  # what encoding them took, all shards together


class _Shard(NamedTuple):
    index: int
    of: int
    doc_ids: list[str]
    vectors: sp.csr_matrix
    seconds: float


def encode_shard(system: IndexedSearch | None, corpus: dict[str, tuple[str, str]], doc_ids: list[str],
                 output: Path, *, shard: int, num_shards: int, model_sha: str) -> dict[str, Any]:
    """Encode the documents `doc_ids` of `corpus` with `system` (None for an empty shard) into `output`."""
    seconds = 0.0
    if doc_ids:
        texts = [passage({"title": corpus[i][0], "text": corpus[i][1]}) for i in doc_ids]  # as MTEB joins them
        start = time.perf_counter()
        matrix = to_csr(system.encode_documents(texts))
        seconds = time.perf_counter() - start
    else:
        matrix = sp.csr_matrix((0, 0), dtype=np.float32)
    meta = {"format": EMBEDDINGS_FORMAT, "shard": shard, "num_shards": num_shards, "model_sha256": model_sha,
            "documents": len(doc_ids), "seconds": seconds}
    with atomic_output(output) as tmp, open(tmp, "wb") as fh:  # a file handle: savez adds no suffix
        np.savez(fh, data=matrix.data, indices=matrix.indices, indptr=matrix.indptr,
                 shape=np.asarray(matrix.shape, dtype=np.int64), doc_ids=np.asarray(doc_ids, dtype=np.str_),
                 meta=np.asarray(json.dumps(meta)))
    return {**meta, "active_dims": float(matrix.getnnz() / len(doc_ids)) if doc_ids else 0.0,
            "output": str(output)}


def read_document_embeddings(paths: Sequence[Path], corpus_ids: list[str], model_sha: str) -> DocumentEmbeddings:
    """Stack `encode_shard` files into the corpus's document vectors.

    The shards must be every shard 0..n-1 of one n exactly once, encoded by this very model
    folder, and together hold each document of `corpus_ids` once; otherwise `InputError`.
    """
    shards = sorted((_read_shard(Path(path), model_sha) for path in paths), key=lambda s: s.index)
    check_complete([(s.index, s.of) for s in shards], "document embeddings")
    ids = [doc_id for s in shards for doc_id in s.doc_ids]
    if sorted(ids) != sorted(corpus_ids):
        missing = sorted(set(corpus_ids) - set(ids))
        raise InputError(f"document embeddings: the shards hold {len(ids)} documents, the corpus {len(corpus_ids)}"
                         + (f"; missing e.g. {missing[0]!r}" if missing else "; some are not in the corpus"))
    filled = [s.vectors for s in shards if s.doc_ids]
    if len({m.shape[1] for m in filled}) > 1:
        raise InputError(f"document embeddings: shards of different widths {sorted({m.shape[1] for m in filled})}")
    return DocumentEmbeddings(ids, sp.vstack(filled, format="csr", dtype=np.float32),
                              sum(s.seconds for s in shards))


def _read_shard(path: Path, model_sha: str) -> _Shard:
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            if meta.get("format") != EMBEDDINGS_FORMAT:
                raise ValueError(f"format {meta.get('format')!r}")
            shape = tuple(int(n) for n in npz["shape"])
            matrix = sp.csr_matrix((npz["data"], npz["indices"], npz["indptr"]), shape=shape)
            ids = [str(i) for i in npz["doc_ids"]]
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{path}: not a document embeddings file from encode_documents ({exc})") from None
    if meta["model_sha256"] != model_sha:
        raise InputError(f"{path}: encoded by another model (sha256 {meta['model_sha256'][:12]}, the model "
                         f"evaluated is {model_sha[:12]})")
    return _Shard(int(meta["shard"]), int(meta["num_shards"]), ids, matrix, float(meta["seconds"]))
