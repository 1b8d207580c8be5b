"""Build the three sparse architectures from sentence-transformers modules.

- `splade`: fill-mask Transformer + SpladePooling(max); queries and documents share the encoder.
- `inference-free`: a Router whose query side is a SparseStaticEmbedding (one weight per
  vocabulary token, initialised from the training corpus's IDF, so a query is encoded by
  tokenizing and looking weights up) and whose document side is fill-mask Transformer +
  SpladePooling (arXiv 2411.04403).
- `csr`: the base model's own dense encoder, as its sentence-transformers configuration defines
  it (Transformer, its Pooling mode, Normalize, its prompts such as a query instruction),
  followed by a SparseAutoEncoder that keeps the top-k of a wider latent space (Contrastive
  Sparse Representation, arXiv 2503.01776). A plain transformer folder gets mean pooling.

What training adds to the base model (the IDF query weights, the autoencoder's random
initialisation) is returned by `initial_weights` and saved with the trained model, so that
`build_model(..., initial=...)` rebuilds the untrained model exactly as training started from it:
the reference the promotion gate compares a first version with.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from spladeforge.config import TrainConfig
from spladeforge.errors import ConfigError
from spladeforge.models.build import is_sparse_encoder_folder, load_sparse_encoder
from spladeforge.models.builtin import resolve_model
from spladeforge.models.static_query import static_module

if TYPE_CHECKING:
    import torch
    from sentence_transformers.sparse_encoder import SparseEncoder

logger = logging.getLogger(__name__)

# The parameter-name pattern of the static query weights inside the Router, for
# `learning_rate_mapping` (`train.static_learning_rate`; by default 1e-3, 50x the encoder's 2e-5, as
# sentence-transformers' Router documentation trains a SparseStaticEmbedding).
STATIC_WEIGHT_PATTERN = r"SparseStaticEmbedding\.weight|sub_modules\.query\.0\.weight"
# Keys of `initial_weights`: the static query weights, and the autoencoder's state under a prefix.
STATIC_KEY = "static_query.weight"
AUTOENCODER_PREFIX = "autoencoder."


def idf_from_document_frequency(df: torch.Tensor, n: int, special_ids: Iterable[int] = ()) -> torch.Tensor:
    """Smoothed IDF per vocabulary id, log(1 + (N - df + 0.5) / (df + 0.5)), as BM25 uses.

    Tokens never seen in the corpus get the highest weight a one-document token would get;
    special tokens get 0 so [CLS]/[SEP]/[PAD] never score.
    """
    import torch

    df = df.to(torch.float64)
    n = max(n, 1)
    idf = torch.log1p((n - df + 0.5) / (df + 0.5))
    idf[df == 0] = math.log1p((n - 1 + 0.5) / 1.5)
    for token_id in special_ids:
        idf[token_id] = 0.0
    return idf.float()


def corpus_idf(tokenizer, texts: Iterable[str]) -> torch.Tensor:
    """`idf_from_document_frequency` of `texts` tokenized by `tokenizer`, one entry per vocabulary id."""
    import torch

    texts = list(texts)
    df = torch.zeros(len(tokenizer.get_vocab()), dtype=torch.float64)
    for start in range(0, len(texts), 512):
        batch = tokenizer(texts[start:start + 512], add_special_tokens=False)["input_ids"]
        for ids in batch:
            df[torch.tensor(sorted(set(ids)), dtype=torch.long)] += 1
    return idf_from_document_frequency(df, len(texts), tokenizer.all_special_ids)


def _splade(cfg: TrainConfig, device: str) -> SparseEncoder:
    return load_sparse_encoder(cfg.base_model, max_seq_length=cfg.max_seq_length, device=device)


def _inference_free(cfg: TrainConfig, device: str, corpus: list[str],
                    initial: dict[str, torch.Tensor] | None) -> SparseEncoder:
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
    weight = initial[STATIC_KEY].clone() if initial is not None else corpus_idf(tokenizer, corpus)
    static = SparseStaticEmbedding(tokenizer=tokenizer, weight=weight, frozen=False)
    router = Router.for_query_document(query_modules=[static], document_modules=list(doc))
    model = SparseEncoder(modules=[router], device=device, similarity_fn_name="dot")
    model.max_seq_length = cfg.max_seq_length
    return model


def _is_sentence_transformer(path: str) -> bool:
    if Path(path).is_dir():
        return (Path(path) / "modules.json").is_file()
    from sentence_transformers.util import is_sentence_transformer_model

    return is_sentence_transformer_model(path)


def dense_encoder(path: str, max_seq_length: int) -> tuple[list, dict[str, str], str | None]:
    """The dense modules, prompts and default prompt name of the model at `path`.

    A sentence-transformers model keeps its own modules (Pooling mode, Normalize, Dense) and
    prompts, e.g. mxbai-embed-large-v1's CLS pooling and its query instruction; a plain
    transformer gets mean pooling, as sentence-transformers gives one.
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from sentence_transformers.sparse_encoder.modules import Transformer

    if _is_sentence_transformer(path):
        dense = SentenceTransformer(path, device="cpu", local_files_only=Path(path).is_dir())
        dense.max_seq_length = max_seq_length
        return list(dense), dict(dense.prompts or {}), dense.default_prompt_name
    logger.info("train.base_model: %s has no sentence-transformers configuration (modules.json); "
                "CSR uses its Transformer with mean pooling and no prompts", path)
    transformer = Transformer(path, max_seq_length=max_seq_length)
    return [transformer, Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")], {}, None


def _csr(cfg: TrainConfig, device: str, initial: dict[str, torch.Tensor] | None) -> SparseEncoder:
    from sentence_transformers.sparse_encoder import SparseEncoder
    from sentence_transformers.sparse_encoder.modules import SparseAutoEncoder

    path = resolve_model(cfg.base_model, key="train.base_model")
    if is_sparse_encoder_folder(path):
        return SparseEncoder(path, device=device)
    modules, prompts, default_prompt = dense_encoder(path, cfg.max_seq_length)
    dim = next(m.get_embedding_dimension() for m in reversed(modules) if hasattr(m, "get_embedding_dimension"))
    hidden = cfg.csr_hidden_factor * dim
    if cfg.csr_k > hidden or cfg.csr_k_aux > hidden:
        raise ConfigError(f"train.csr_k ({cfg.csr_k}) and train.csr_k_aux ({cfg.csr_k_aux}) must be at most "
                          f"the latent width csr_hidden_factor x {dim} = {hidden} of {cfg.base_model}")
    sae = SparseAutoEncoder(input_dim=dim, hidden_dim=hidden, k=cfg.csr_k, k_aux=cfg.csr_k_aux)
    if initial is not None:
        sae.load_state_dict({key.removeprefix(AUTOENCODER_PREFIX): value for key, value in initial.items()
                             if key.startswith(AUTOENCODER_PREFIX)})
    return SparseEncoder(modules=[*modules, sae], device=device, prompts=prompts,
                         default_prompt_name=default_prompt)


def build_model(cfg: TrainConfig, device: str, corpus: list[str],
                initial: dict[str, torch.Tensor] | None = None) -> SparseEncoder:
    """The model to train; `corpus` (training passages) seeds the inference-free IDF weights.

    With `initial` (what `initial_weights` returned for an earlier build) the untrained model of
    that run is rebuilt instead: its IDF query weights or autoencoder initialisation.
    """
    if cfg.architecture == "splade":
        return _splade(cfg, device)
    if cfg.architecture == "inference-free":
        return _inference_free(cfg, device, corpus, initial)
    return _csr(cfg, device, initial)


def initial_weights(model: SparseEncoder) -> dict[str, torch.Tensor]:
    """The weights of `model` that do not come from its base model, copied before training moves them.

    Inference-free: the static query weights (one float per vocabulary token). CSR: the
    autoencoder (input x latent floats). SPLADE: nothing, the base model is the whole model.
    """
    from sentence_transformers.sparse_encoder.modules import SparseAutoEncoder

    static = static_module(model)
    if static is not None:
        return {STATIC_KEY: static.weight.detach().float().cpu().clone()}
    modules = list(model)
    if modules and isinstance(modules[-1], SparseAutoEncoder):
        # Cloned one by one: the tied decoder shares the encoder's weight, which safetensors refuses.
        return {AUTOENCODER_PREFIX + key: value.detach().cpu().clone()
                for key, value in modules[-1].state_dict().items()}
    return {}
