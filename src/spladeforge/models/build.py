"""Build or load a model from a reference: a `SparseEncoder` from sentence-transformers' modules, or a
dense `SentenceTransformer` (mining, semantic chunking, the dense baseline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from spladeforge.errors import ConfigError
from spladeforge.models.builtin import resolve_model

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sparse_encoder import SparseEncoder


def resolve_device(device: str) -> str:
    """`auto` picks CUDA, then Apple MPS, then CPU."""
    import torch

    if device != "auto":
        if device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("train.device: 'cuda' was asked for but no CUDA device is visible "
                              "(accepted here: auto, cpu)")
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def is_sparse_encoder_folder(path: str) -> bool:
    """A folder saved by SparseEncoder.save (a dense sentence-transformers folder is not one)."""
    config = Path(path) / "config_sentence_transformers.json"
    if not (Path(path) / "modules.json").is_file() or not config.is_file():
        return False
    return json.loads(config.read_text()).get("model_type") == "SparseEncoder"


def _check_masked_lm(path: str, key: str) -> None:
    config = Path(path) / "config.json"
    if not config.is_file():
        return  # a hub id: transformers validates it when loading
    architectures = json.loads(config.read_text()).get("architectures") or []
    if not any(a.endswith("ForMaskedLM") for a in architectures):
        raise ConfigError(f"{key}: {path} is not a masked-LM (architectures {architectures}); "
                          "SPLADE needs a fill-mask model such as BertForMaskedLM")


def load_sparse_encoder(
    ref: str,
    *,
    max_seq_length: int | None = None,
    device: str = "cpu",
    key: str = "train.base_model",
) -> SparseEncoder:
    """Load a saved SparseEncoder folder, or wrap a masked-LM as fill-mask Transformer + max pooling."""
    from sentence_transformers.sparse_encoder import SparseEncoder
    from sentence_transformers.sparse_encoder.modules import SpladePooling, Transformer

    path = resolve_model(ref, key=key)
    if is_sparse_encoder_folder(path):
        model = SparseEncoder(path, device=device, local_files_only=Path(path).is_dir())
    else:
        _check_masked_lm(path, key)
        mlm = Transformer(path, transformer_task="fill-mask", max_seq_length=max_seq_length)
        model = SparseEncoder(modules=[mlm, SpladePooling(pooling_strategy="max")], device=device)
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length
    return model


def load_dense_encoder(ref: str, *, key: str, device: str = "cpu") -> SentenceTransformer:
    """A dense sentence-transformers model from `builtin:<name>`, a local folder or a hub id."""
    from sentence_transformers import SentenceTransformer

    path = resolve_model(ref, key=key)
    return SentenceTransformer(path, device=device, local_files_only=Path(path).is_dir())
