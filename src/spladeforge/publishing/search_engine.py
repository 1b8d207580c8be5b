"""An inference-free model in the layout a search engine loads (OpenSearch neural sparse).

An inference-free SparseEncoder is a Router: queries go through a SparseStaticEmbedding (one
weight per vocabulary token, looked up after tokenizing), documents through a fill-mask
Transformer + SpladePooling. A search engine runs the document side as a plain Hugging Face
masked-LM and scores a query by tokenizing it and looking its tokens up in `idf.json`
({token: weight}), as OpenSearch's "neural sparse" doc-only mode does
(https://opensearch.org/docs/latest/search-plugins/neural-sparse-with-pipelines/).

Folder written: the masked-LM (`config.json`, `model.safetensors`), the tokenizer files,
`idf.json` with every vocabulary token (special tokens carry 0: a token missing from idf.json
would get OpenSearch's default weight of 1; the format is `models.static_query`'s, the same file
the INT8 export serves queries from), and `spladeforge.json` naming the pooling.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from spladeforge.errors import InputError
from spladeforge.models.static_query import QUERY_WEIGHTS_FILE, write_query_weights

INFERENCE_FREE = "inference-free"
FOLDER = "search-engine"
IDF_FILE = QUERY_WEIGHTS_FILE


def is_inference_free(sidecar: dict[str, Any]) -> bool:
    return sidecar.get("architecture") == INFERENCE_FREE


def _routes(model, model_dir: Path):
    from sentence_transformers.sparse_encoder.modules import (
        Router,
        SparseStaticEmbedding,
        SpladePooling,
        Transformer,
    )

    modules = list(model)
    router = modules[0] if modules else None
    routes = router.sub_modules if isinstance(router, Router) else {}
    query = list(routes["query"]) if "query" in routes else []
    document = list(routes["document"]) if "document" in routes else []
    if not (len(modules) == 1 and len(query) == 1 and isinstance(query[0], SparseStaticEmbedding)
            and len(document) == 2 and isinstance(document[0], Transformer)
            and isinstance(document[1], SpladePooling)):
        raise InputError(
            f"{model_dir}: spladeforge.json says architecture {INFERENCE_FREE!r}, but the model is not "
            "a Router with query=[SparseStaticEmbedding] and document=[Transformer, SpladePooling]")
    return query[0], document[0], document[1]


def export_search_engine(model_dir: Path, dest: Path) -> list[str]:
    """Write the document encoder, its tokenizer and `idf.json` to `dest`; return the file names."""
    from sentence_transformers.sparse_encoder import SparseEncoder

    model = SparseEncoder(str(model_dir), device="cpu", local_files_only=True)
    _, transformer, pooling = _routes(model, model_dir)
    dest.mkdir(parents=True, exist_ok=True)
    transformer.auto_model.save_pretrained(str(dest))
    transformer.tokenizer.save_pretrained(str(dest))
    write_query_weights(model, dest)
    meta = {"format": "opensearch-neural-sparse-doc-only", "document_encoder": "masked-lm",
            "pooling_strategy": pooling.pooling_strategy, "activation_function": pooling.activation_function,
            "max_seq_length": transformer.max_seq_length, "query_weights": IDF_FILE}
    (dest / "spladeforge.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
