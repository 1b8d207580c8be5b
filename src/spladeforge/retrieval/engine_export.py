"""The chunk corpus's document vectors in the formats search engines index, with the query side.

- `anserini`: `collection/docs.jsonl`, Anserini's JsonVectorCollection, one
  `{"id", "contents", "vector": {token: int}}` per line, each weight `int(round(w * 100))`
  (quantization factor 100, as naver/splade's `create_anserini` writes it; weights that round
  to 0 are left out). Index with `-collection JsonVectorCollection -impact -pretokenized`.
- `opensearch`: `bulk.ndjson` (an action line, then `{"id", "title", "text", "sparse_embedding":
  {token: weight}}`) and `mapping.json`, where `sparse_embedding` is a `rank_features` field;
  a `rank_feature` query with the `linear` function per query token, boosted by the query
  weight, scores the same dot product (Lucene keeps a feature's weight to 9 significant bits).

Both also get `query_side.json`, saying how queries are encoded: by the model (its folder or
ONNX file), or, for an inference-free model, by tokenizing and looking tokens up in `idf.json`
(written beside it, the table `models.static_query` writes for the search-engine export). A CSR
model's dimensions are latents: its "tokens" are latent indices, and so are its queries'.

The output folder is written whole or not at all (`io.atomic_output`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spladeforge.io import atomic_output
from spladeforge.text import passage

if TYPE_CHECKING:
    from spladeforge.retrieval.searchers import SparseSearcher

FORMATS = ("anserini", "opensearch")
QUANTIZATION = 100
FIELD = "sparse_embedding"
INDEX_NAME = "spladeforge-chunks"
ANSERINI_FILE = "collection/docs.jsonl"
QUERY_SIDE_FILE = "query_side.json"


def _vectors(searcher: SparseSearcher) -> Iterator[tuple[dict[str, Any], dict[str, float]]]:
    """(chunk record, {token: weight}) per chunk, in corpus order."""
    matrix = searcher.doc_vectors
    for row, record in enumerate(searcher.chunks.records):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        ids, weights = matrix.indices[start:end], matrix.data[start:end]
        order = np.argsort(ids, kind="stable")
        names = searcher.token_names(ids[order].tolist())
        yield record, dict(zip(names, weights[order].tolist(), strict=True))


def quantize(weights: dict[str, float], factor: int = QUANTIZATION) -> dict[str, int]:
    """Integer impacts as naver/splade's create_anserini: round(w * factor), zeros dropped."""
    quantized = {token: int(round(weight * factor)) for token, weight in weights.items()}
    return {token: value for token, value in quantized.items() if value > 0}


def _write_anserini(searcher: SparseSearcher, folder: Path) -> list[str]:
    path = folder / ANSERINI_FILE
    path.parent.mkdir(parents=True)
    with open(path, "w", encoding="utf-8") as fh:
        for record, weights in _vectors(searcher):
            line = {"id": record["id"], "contents": passage(record), "vector": quantize(weights)}
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    return [ANSERINI_FILE]


def mapping() -> dict[str, Any]:
    return {"mappings": {"properties": {
        "id": {"type": "keyword"}, "title": {"type": "text"}, "text": {"type": "text"},
        FIELD: {"type": "rank_features"}}}}


def _write_opensearch(searcher: SparseSearcher, folder: Path) -> list[str]:
    with open(folder / "bulk.ndjson", "w", encoding="utf-8") as fh:
        for record, weights in _vectors(searcher):
            fh.write(json.dumps({"index": {"_index": INDEX_NAME, "_id": record["id"]}}) + "\n")
            doc = {"id": record["id"], "title": record.get("title") or "", "text": record["text"],
                   FIELD: {token: weight for token, weight in weights.items() if weight > 0}}
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
    (folder / "mapping.json").write_text(json.dumps(mapping(), indent=2) + "\n", encoding="utf-8")
    return ["bulk.ndjson", "mapping.json"]


def _query_weights(searcher: SparseSearcher, folder: Path) -> str | None:
    """Write idf.json for an inference-free model; its name, or None for a model that encodes queries."""
    from spladeforge.models.static_query import QUERY_WEIGHTS_FILE, write_query_weights

    encoder = searcher.model.encoder
    if searcher.model.static_queries is not None:
        write_query_weights(encoder, folder)
        return QUERY_WEIGHTS_FILE
    table = (getattr(encoder, "meta", None) or {}).get("query_weights")
    if getattr(encoder, "static_queries", None) is not None and table:  # an ONNX export's table
        shutil.copyfile(Path(encoder.path).parent / table, folder / QUERY_WEIGHTS_FILE)
        return QUERY_WEIGHTS_FILE
    return None


def _query_side(searcher: SparseSearcher, fmt: str, table: str | None) -> dict[str, Any]:
    source = searcher.model.source
    where = str(Path(source).resolve()) if Path(source).exists() else source
    onnx = getattr(searcher.model.encoder, "path", None)
    side: dict[str, Any] = {
        "system": searcher.name, "model": where, "format": fmt,
        "dimensions": "latent" if searcher.model.latent else "tokens",
        "encoder": "token-weight table" if table else ("onnx" if onnx else "sentence-transformers SparseEncoder"),
    }
    if onnx:
        side["onnx_file"] = str(Path(onnx).resolve())
    if table:
        side["query_weights"] = table
        side["how"] = (f"tokenize the query with the model's tokenizer (no special tokens) and weight each "
                       f"distinct token by {table}; tokens weighted 0 drop out")
    else:
        side["how"] = (f"encode the query with the model ({'OnnxSparseEncoder' if onnx else 'SparseEncoder'}"
                       ".encode_query) and keep its non-zero dimensions as token -> weight")
    if fmt == "anserini":
        side["quantization_factor"] = QUANTIZATION
        side["index"] = ("-collection JsonVectorCollection -input collection -generator DefaultLuceneDocumentGenerator "
                         "-impact -pretokenized")
        side["search"] = ("-impact -pretokenized, each query as its tokens repeated round(weight x "
                          f"{QUANTIZATION}) times")
    else:
        side["field"], side["index_name"] = FIELD, INDEX_NAME
        side["search"] = ("a bool query with one should clause per query token: {\"rank_feature\": {\"field\": "
                          f"\"{FIELD}.<token>\", \"linear\": {{}}, \"boost\": <query weight>}}}}")
    return side


def export_index(searcher: SparseSearcher, fmt: str, output: Path) -> list[str]:
    """Write `fmt` (anserini | opensearch) for the searcher's corpus into the new folder `output`."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (accepted: {', '.join(FORMATS)})")
    with atomic_output(output, directory=True) as tmp:
        files = _write_anserini(searcher, tmp) if fmt == "anserini" else _write_opensearch(searcher, tmp)
        table = _query_weights(searcher, tmp)
        (tmp / QUERY_SIDE_FILE).write_text(json.dumps(_query_side(searcher, fmt, table), indent=2) + "\n",
                                           encoding="utf-8")
        files += [QUERY_SIDE_FILE] + ([table] if table else [])
    return files
