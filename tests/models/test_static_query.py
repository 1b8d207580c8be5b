"""The lean inference-free query encoder gives exactly SparseEncoder.encode_query's weights."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers.sparse_encoder import SparseEncoder
from sentence_transformers.sparse_encoder.modules import Router, SparseStaticEmbedding

from spladeforge.models.static_query import StaticQueryEncoder


def test_lookup_matches_encode_query(base_model):
    """Same ids and weights as encode_query, repeated tokens and zero weights included."""
    weight = torch.rand(base_model.tokenizer.vocab_size, generator=torch.Generator().manual_seed(0))
    weight[base_model.tokenizer.convert_tokens_to_ids("the")] = 0.0
    static = SparseStaticEmbedding(tokenizer=base_model.tokenizer, weight=weight, frozen=True)
    router = Router.for_query_document(query_modules=[static], document_modules=list(base_model))
    model = SparseEncoder(modules=[router], device="cpu", similarity_fn_name="dot")
    encoder = StaticQueryEncoder(model)
    for query in ["how do I decode json json text", "the gzip module", "Ünïcode & punctuation?!"]:
        expected = model.encode_query(query, convert_to_sparse_tensor=False)
        ids, weights = encoder.encode(query)
        dense = torch.zeros_like(expected)
        dense[torch.from_numpy(ids)] = torch.from_numpy(weights)
        torch.testing.assert_close(dense, expected, atol=0, rtol=0)


def test_regular_model_is_refused(base_model):
    """A model without a static query route is a ValueError naming what is needed."""
    with pytest.raises(ValueError, match="inference-free"):
        StaticQueryEncoder(base_model)
