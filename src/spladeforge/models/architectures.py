"""Build the three sparse architectures from sentence-transformers modules.

- `splade`: fill-mask Transformer + SpladePooling(max); queries and documents share the encoder.
- `inference-free`: a Router whose query side is a SparseStaticEmbedding (one weight per
  vocabulary token, initialised from the training corpus's IDF, so a query is encoded by
  tokenizing and looking weights up) and whose document side is fill-mask Transformer +
  SpladePooling (arXiv 2411.04403).
- `csr`: a dense encoder (Transformer + mean Pooling) followed by a SparseAutoEncoder that keeps
  the top-k of a wider latent space (Contrastive Sparse Representation, arXiv 2503.01776).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from spladeforge.config import TrainConfig
from spladeforge.errors import ConfigError
from spladeforge.models.build import is_sparse_encoder_folder, load_sparse_encoder
from spladeforge.models.builtin import resolve_model

if TYPE_CHECKING:
    import torch
    from sentence_transformers.sparse_encoder import SparseEncoder

# The parameter-name pattern of the static query weights inside the Router, for
# `learning_rate_mapping` (`train.static_learning_rate`; by default 1e-3, 50x the encoder's 2e-5, as
# sentence-transformers' Router documentation trains a SparseStaticEmbedding).
STATIC_WEIGHT_PATTERN = r"SparseStaticEmbedding\.weight|sub_modules\.query\.0\.weight"


def corpus_idf(tokenizer, texts: Iterable[str]) -> torch.Tensor:
    """Smoothed IDF per vocabulary id, log(1 + (N - df + 0.5) / (df + 0.5)), as BM25 uses.

    Tokens never seen in the corpus get the highest weight a one-document token would get;
    special tokens get 0 so [CLS]/[SEP]/[PAD] never score.
    """
    import torch

    texts = list(texts)
    vocab_size = len(tokenizer.get_vocab())
    df = torch.zeros(vocab_size, dtype=torch.float64)
    for start in range(0, len(texts), 512):
        batch = tokenizer(texts[start:start + 512], add_special_tokens=False)["input_ids"]
        for ids in batch:
            df[torch.tensor(sorted(set(ids)), dtype=torch.long)] += 1
    n = max(len(texts), 1)
    idf = torch.log1p((n - df + 0.5) / (df + 0.5))
    idf[df == 0] = math.log1p((n - 1 + 0.5) / 1.5)
    for token_id in tokenizer.all_special_ids:
        idf[token_id] = 0.0
    return idf.float()


def _splade(cfg: TrainConfig, device: str) -> SparseEncoder:
    return load_sparse_encoder(cfg.base_model, max_seq_length=cfg.max_seq_length, device=device)


def _inference_free(cfg: TrainConfig, device: str, corpus: list[str]) -> SparseEncoder:
    from sentence_transformers.sparse_encoder import SparseEncoder
    from sentence_transformers.sparse_encoder.modules import Router, SparseStaticEmbedding

    path = resolve_model(cfg.base_model, key="train.base_model")
    if is_sparse_encoder_folder(path):
        model = SparseEncoder(path, device=device)  # an inference-free model to continue training
        if not any(type(m).__name__ == "Router" for m in model):
            raise ConfigError(f"train.base_model: {cfg.base_model} is a SparseEncoder without a "
                              "query/document Router; use a masked-LM or an inference-free model")
        return model
    doc = load_sparse_encoder(cfg.base_model, max_seq_length=cfg.max_seq_length, device="cpu")
    tokenizer = doc[0].tokenizer
    static = SparseStaticEmbedding(tokenizer=tokenizer, weight=corpus_idf(tokenizer, corpus), frozen=False)
    router = Router.for_query_document(query_modules=[static], document_modules=list(doc))
    model = SparseEncoder(modules=[router], device=device, similarity_fn_name="dot")
    model.max_seq_length = cfg.max_seq_length
    return model


def _csr(cfg: TrainConfig, device: str) -> SparseEncoder:
    from sentence_transformers.sentence_transformer.modules import Pooling
    from sentence_transformers.sparse_encoder import SparseEncoder
    from sentence_transformers.sparse_encoder.modules import SparseAutoEncoder, Transformer

    path = resolve_model(cfg.base_model, key="train.base_model")
    if is_sparse_encoder_folder(path):
        return SparseEncoder(path, device=device)
    transformer = Transformer(path, max_seq_length=cfg.max_seq_length)
    dim = transformer.get_embedding_dimension()
    pooling = Pooling(dim, pooling_mode="mean")
    sae = SparseAutoEncoder(input_dim=dim, hidden_dim=cfg.csr_hidden_factor * dim, k=cfg.csr_k,
                            k_aux=cfg.csr_k_aux)
    return SparseEncoder(modules=[transformer, pooling, sae], device=device)


def build_model(cfg: TrainConfig, device: str, corpus: list[str]) -> SparseEncoder:
    """The model to train; `corpus` (training passages) seeds the inference-free IDF weights."""
    if cfg.architecture == "splade":
        return _splade(cfg, device)
    if cfg.architecture == "inference-free":
        return _inference_free(cfg, device, corpus)
    return _csr(cfg, device)
