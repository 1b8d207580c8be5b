"""Why a sparse system ranked a chunk: its score term by term.

A SPLADE score is a dot product over the vocabulary, so it splits exactly into one contribution
per token the query and the chunk share: query weight x document weight. The largest few say
what matched. A token of the document vector whose word-piece does not occur in the chunk (its
title and text, as the model's tokenizer splits them) is an expansion term: the model added it
(Formal et al., "SPLADE", SIGIR 2021, section 3), which is what lexical matching cannot do.

A CSR model's dimensions are autoencoder latents, not tokens: they are named by index and never
marked as expansions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from spladeforge.text import passage

if TYPE_CHECKING:
    from spladeforge.retrieval.searchers import Hit, SparseSearcher

TOP_TERMS = 8


@dataclass(frozen=True)
class Term:
    """One shared dimension's part of a score."""

    token: str  # vocabulary token, or a latent's index for CSR
    query_weight: float
    doc_weight: float
    contribution: float  # query_weight * doc_weight
    expansion: bool  # in the document vector, not in the chunk's own text

    def as_dict(self) -> dict:
        return asdict(self)


def text_token_ids(tokenizer, text: str) -> frozenset[int]:
    """The vocabulary ids of `text` as the model's tokenizer splits it (whole text, no special tokens)."""
    return frozenset(tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])


class Explainer:
    """Term contributions of a sparse searcher's hits; the query is encoded once per query."""

    def __init__(self, searcher: SparseSearcher) -> None:
        self.searcher = searcher
        self.latent = searcher.model.latent or searcher.model.tokenizer is None
        self._text_ids = lru_cache(maxsize=4096)(self._chunk_token_ids)

    def _chunk_token_ids(self, chunk_id: str) -> frozenset[int]:
        return text_token_ids(self.searcher.model.tokenizer, passage(self.searcher.chunks.get(chunk_id)))

    def terms(self, query: str, hits: list[Hit], top: int = TOP_TERMS) -> dict[str, list[Term]]:
        """chunk id -> its top `top` terms by contribution, largest first."""
        query_vector = self.searcher.query_vector(query)
        q_ids, q_weights = query_vector.indices, query_vector.data
        return {hit.chunk_id: self._terms(q_ids, q_weights, hit.chunk_id, top) for hit in hits}

    def _terms(self, q_ids: np.ndarray, q_weights: np.ndarray, chunk_id: str, top: int) -> list[Term]:
        doc = self.searcher.document_vector(chunk_id)
        shared, q_pos, d_pos = np.intersect1d(q_ids, doc.indices, assume_unique=True, return_indices=True)
        contributions = q_weights[q_pos] * doc.data[d_pos]
        order = np.lexsort((shared, -contributions))[:top]
        ids = shared[order].tolist()
        names = self.searcher.token_names(ids)
        in_text = frozenset() if self.latent else self._text_ids(chunk_id)
        return [Term(name, float(q_weights[q_pos[i]]), float(doc.data[d_pos[i]]), float(contributions[i]),
                     not self.latent and token_id not in in_text)
                for i, token_id, name in zip(order.tolist(), ids, names, strict=True)]

    def expansion_terms(self, chunk_id: str, top: int = TOP_TERMS) -> list[tuple[str, float]]:
        """The chunk's heaviest expansion terms (whatever the query), as (token, weight)."""
        if self.latent:
            return []
        doc = self.searcher.document_vector(chunk_id)
        in_text = self._text_ids(chunk_id)
        keep = np.array([i not in in_text for i in doc.indices.tolist()], dtype=bool)
        ids, weights = doc.indices[keep], doc.data[keep]
        order = np.lexsort((ids, -weights))[:top]
        return list(zip(self.searcher.token_names(ids[order].tolist()), weights[order].tolist(), strict=True))
