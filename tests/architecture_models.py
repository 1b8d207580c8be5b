"""Small untrained models of each architecture, saved as `spladeforge train` saves a model folder.

An untrained model is what training starts from, so its folder also holds the reference weights
(`models.saved.REFERENCE_WEIGHTS`) and a sidecar with the `train` section: everything evaluate,
quantize, register and publish read. Built from the offline built-ins only.
"""

from __future__ import annotations

from pathlib import Path

from spladeforge.config import TrainConfig
from spladeforge.io import write_json
from spladeforge.models.saved import SIDECAR, write_initial_weights
from tests.conftest import TINY_CORPUS

CORPUS = [f"{title} {text}" for title, text in TINY_CORPUS.values()]
# Small but real: the built-in BERT-tiny document encoder, the built-in MiniLM with a narrow autoencoder.
CONFIGS = {
    "splade": {},
    "inference-free": {"query_regularizer_weight": 0.0},
    "csr": {"base_model": "builtin:minilm-l6", "csr_hidden_factor": 2, "csr_k": 16, "csr_k_aux": 32,
            "query_regularizer_weight": 0.0},
}


def train_config(architecture: str, **overrides) -> TrainConfig:
    return TrainConfig(architecture=architecture, max_seq_length=64, device="cpu", tracking=[],
                       **{**CONFIGS[architecture], **overrides})


def save_untrained(architecture: str, folder: Path, **overrides) -> Path:
    """Build the untrained model of `architecture` and save it as a trained model folder."""
    from spladeforge.models.architectures import build_model, initial_weights

    cfg = train_config(architecture, **overrides)
    model = build_model(cfg, "cpu", CORPUS)
    model.save(str(folder))
    reference = write_initial_weights(folder, initial_weights(model))
    meta = {"base_model": cfg.base_model, "architecture": architecture, "max_seq_length": cfg.max_seq_length,
            "train": cfg.model_dump(mode="json")}
    write_json(folder / SIDECAR, {**meta, "reference_weights": reference} if reference else meta)
    return folder
