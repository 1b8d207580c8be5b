"""Document vectors encoded once per model and corpus, kept on disk and reused.

Encoding the corpus is the slow part of a search (minutes for a few thousand chunks on a CPU);
a query is milliseconds. So a system's document vectors are stored under
`<cache_dir>/<model key[:16]>-<corpus sha256[:16]>/`:

    vectors.npz     scipy sparse CSR [chunks, vocab] (sparse systems), or
    vectors.npy     float32 [chunks, dim] (dense systems)
    chunk_ids.json  the chunk id of each row
    meta.json       the system, the model, the full keys, when and how long encoding took

The model key is the sha256 of the model's files (`io.sha256_tree`) together with whatever else
changes the vectors (the truncation length, the base a reference is rebuilt from), the corpus
key the chunks file's sha256: a retrained model or an edited corpus gets a new entry, the same
pair is read back. The folder is written atomically (`io.atomic_output`), so a killed build
leaves nothing that could be mistaken for a finished index.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from spladeforge.io import atomic_output, read_json, sha256_tree

logger = logging.getLogger(__name__)

KEY_CHARS = 16
SPARSE_FILE = "vectors.npz"
DENSE_FILE = "vectors.npy"
IDS_FILE = "chunk_ids.json"
META_FILE = "meta.json"


def model_key(path: str | Path, *extra: object) -> str:
    """sha256 of a model folder's (or file's) contents, mixed with `extra` when given."""
    digest = sha256_tree(path)
    if not extra:
        return digest
    return hashlib.sha256("\x1f".join([digest, *map(str, extra)]).encode()).hexdigest()


def entry_dir(cache_dir: Path, model: str, corpus: str) -> Path:
    return Path(cache_dir) / f"{model[:KEY_CHARS]}-{corpus[:KEY_CHARS]}"


def _read(folder: Path, dense: bool, chunk_ids: list[str], model: str, corpus: str) -> Any | None:
    """The stored vectors if `folder` holds this exact model's vectors of this exact corpus."""
    vectors_file = folder / (DENSE_FILE if dense else SPARSE_FILE)
    if not (vectors_file.is_file() and (folder / IDS_FILE).is_file() and (folder / META_FILE).is_file()):
        return None
    meta = read_json(folder / META_FILE)
    if meta.get("model_key") != model or meta.get("corpus_sha256") != corpus:
        return None  # a 16-character prefix collision, or an entry from another layout
    if read_json(folder / IDS_FILE) != chunk_ids:
        return None
    vectors = np.load(vectors_file) if dense else sp.load_npz(vectors_file).tocsr()
    if vectors.shape[0] != len(chunk_ids):
        return None
    return vectors


def cached_vectors(cache_dir: Path, *, system: str, model: str, corpus: str, chunk_ids: list[str],
                   dense: bool, encode: Callable[[], Any], source: str = "") -> tuple[Any, bool]:
    """(vectors, built): the stored document vectors, or `encode()`'s, stored for the next time.

    `encode` returns [chunks, dims] vectors (scipy sparse or torch sparse for sparse systems,
    an array for dense ones) in `chunk_ids` order.
    """
    from spladeforge.retrieval.sparse_index import to_csr

    folder = entry_dir(cache_dir, model, corpus)
    found = _read(folder, dense, chunk_ids, model, corpus)
    if found is not None:
        logger.debug("%s: document vectors from %s", system, folder)
        return found, False
    logger.info("%s: encoding %d chunks once (kept in %s)", system, len(chunk_ids), folder)
    start = time.perf_counter()
    vectors = encode()
    seconds = time.perf_counter() - start
    if dense:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    else:
        vectors = to_csr(vectors)
        vectors.eliminate_zeros()
    meta = {"system": system, "source": source, "model_key": model, "corpus_sha256": corpus,
            "chunks": len(chunk_ids), "dims": int(vectors.shape[1]), "encode_seconds": round(seconds, 3),
            "created": datetime.now(UTC).isoformat(timespec="seconds")}
    folder.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(folder, directory=True) as tmp:
        if dense:
            np.save(tmp / DENSE_FILE, vectors)
        else:
            sp.save_npz(tmp / SPARSE_FILE, vectors)
        (tmp / IDS_FILE).write_text(json.dumps(chunk_ids, ensure_ascii=False), encoding="utf-8")
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return vectors, True
