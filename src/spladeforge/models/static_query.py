"""Encode queries of an inference-free model by tokenizing and looking weights up.

An inference-free SPLADE query is the set of its tokens, each weighted by the trained
`SparseStaticEmbedding` (arXiv 2411.04403). `SparseEncoder.encode_query` computes exactly that,
but through its general batching path (prompt resolution, padding, a dense [1, vocab] tensor,
sparse conversion), about 2 ms per single query on 2 CPU cores, while the work itself is a
tokenizer call and a lookup, ~0.1 ms. `StaticQueryEncoder` does only that work, for serving.

The weights travel as a token-weight table, `idf.json` ({token: weight} for every vocabulary
token), the layout OpenSearch's neural sparse "doc-only" mode loads
(https://opensearch.org/docs/latest/search-plugins/neural-sparse-with-pipelines/). This module is
the one place that writes and reads it: the INT8 export (`models.onnx_export`) and the
search-engine export (`publishing.search_engine`) both call `write_query_weights`, and
`StaticQueryEncoder.from_table` serves queries from it with no model at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from spladeforge.errors import InputError

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder import SparseEncoder

QUERY_WEIGHTS_FILE = "idf.json"
# Six decimals: weights are O(1)..O(10), so a rounded weight is within 5e-7 of the trained one,
# far below anything a ranking notices, and the table stays ~0.6 MB for a 30k vocabulary.
DECIMALS = 6


def static_module(model: SparseEncoder):
    """The SparseStaticEmbedding of an inference-free model's query route, or None."""
    for module in model.modules():
        if type(module).__name__ == "Router":
            route = module.sub_modules["query"] if "query" in module.sub_modules else []
            found = [m for m in route if type(m).__name__ == "SparseStaticEmbedding"]
            if len(found) == 1 and len(route) == 1:
                return found[0]
    return None


def has_static_queries(model: SparseEncoder) -> bool:
    """Whether `model` is inference-free: a Router whose query route is one SparseStaticEmbedding."""
    return static_module(model) is not None


def write_query_weights(model: SparseEncoder, folder: str | Path) -> Path:
    """Write `folder/idf.json`, {token: weight} over the whole vocabulary; return its path.

    Every token is listed, special tokens too (they carry 0 unless training moved them): a token
    missing from the table would get OpenSearch's default weight of 1.
    """
    static = static_module(model)
    if static is None:
        raise ValueError("query weights exist only for an inference-free model (a Router whose query "
                         "route is a single SparseStaticEmbedding)")
    weights = static.weight.detach().float().cpu().tolist()
    tokens = static.tokenizer.convert_ids_to_tokens(list(range(len(weights))))
    table = {token: round(weight, DECIMALS) for token, weight in zip(tokens, weights, strict=True)
             if token is not None}
    path = Path(folder) / QUERY_WEIGHTS_FILE
    path.write_text(json.dumps(table, ensure_ascii=False), encoding="utf-8")
    return path


def read_query_weights(path: str | Path, tokenizer) -> np.ndarray:
    """The table at `path` as a [vocab] float32 array indexed by `tokenizer`'s ids."""
    path = Path(path)
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: file not found (the query token weights of an inference-free model)") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(table, dict):
        raise InputError(f"{path}: expected a JSON object of token -> weight")
    vocab = tokenizer.get_vocab()
    weights = np.zeros(max(vocab.values()) + 1, dtype=np.float32)
    unknown = [token for token in table if token not in vocab]
    if unknown:
        raise InputError(f"{path}: {len(unknown)} token(s) not in the tokenizer's vocabulary, e.g. "
                         f"{unknown[0]!r} (the table and the tokenizer must come from the same model)")
    for token, weight in table.items():
        weights[vocab[token]] = float(weight)
    return weights


class StaticQueryEncoder:
    """Same weights as `model.encode_query(text)` for an inference-free model, as (ids, weights)."""

    def __init__(self, model: SparseEncoder) -> None:
        static = static_module(model)
        if static is None:
            raise ValueError("StaticQueryEncoder needs an inference-free SparseEncoder: a Router whose "
                             "query route is a single SparseStaticEmbedding")
        self.tokenizer = static.tokenizer
        self.weight = static.weight.detach().float().cpu().numpy()
        self.prompt = (model.prompts or {}).get("query") or ""

    @classmethod
    def from_table(cls, path: str | Path, tokenizer, prompt: str = "") -> StaticQueryEncoder:
        """Serve queries from an `idf.json` table and the model's tokenizer: no model is loaded."""
        encoder = cls.__new__(cls)
        encoder.tokenizer, encoder.weight, encoder.prompt = tokenizer, read_query_weights(path, tokenizer), prompt
        return encoder

    def encode(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Sorted vocabulary ids with a non-zero weight, and their weights."""
        # No special tokens, truncation at the tokenizer's limit: as SparseStaticEmbedding.preprocess.
        ids = self.tokenizer(self.prompt + text, add_special_tokens=False, truncation=True)["input_ids"]
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        weights = self.weight[ids]
        keep = weights != 0
        return ids[keep], weights[keep]
