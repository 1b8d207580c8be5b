"""Encode queries of an inference-free model by tokenizing and looking weights up.

An inference-free SPLADE query is the set of its tokens, each weighted by the trained
`SparseStaticEmbedding` (arXiv 2411.04403). `SparseEncoder.encode_query` computes exactly that,
but through its general batching path (prompt resolution, padding, a dense [1, vocab] tensor,
sparse conversion), about 2 ms per single query on 2 CPU cores, while the work itself is a
tokenizer call and a lookup, ~0.1 ms. `StaticQueryEncoder` does only that work, for serving.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder import SparseEncoder


def _static_module(model: SparseEncoder):
    for module in model.modules():
        if type(module).__name__ == "Router":
            route = module.sub_modules["query"] if "query" in module.sub_modules else []
            found = [m for m in route if type(m).__name__ == "SparseStaticEmbedding"]
            if len(found) == 1 and len(route) == 1:
                return found[0]
    return None


class StaticQueryEncoder:
    """Same weights as `model.encode_query(text)` for an inference-free model, as (ids, weights)."""

    def __init__(self, model: SparseEncoder) -> None:
        static = _static_module(model)
        if static is None:
            raise ValueError("StaticQueryEncoder needs an inference-free SparseEncoder: a Router whose "
                             "query route is a single SparseStaticEmbedding")
        self.tokenizer = static.tokenizer
        self.weight = static.weight.detach().float().cpu().numpy()
        self.prompt = (model.prompts or {}).get("query") or ""

    def encode(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Sorted vocabulary ids with a non-zero weight, and their weights."""
        ids = self.tokenizer(self.prompt + text, add_special_tokens=False, truncation=True)["input_ids"]
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        weights = self.weight[ids]
        keep = weights != 0
        return ids[keep], weights[keep]
