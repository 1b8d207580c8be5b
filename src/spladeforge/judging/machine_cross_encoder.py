"""A cross-encoder relevance judge: a sentence-transformers `CrossEncoder` with one output, a hub id or a
local folder (`builtin:` names and paths resolved as everywhere else, hub ids only from the local cache
unless HF_HUB_OFFLINE=0).

The rule: the model's raw score (its logit) is read on `scale` (`sigmoid`: sigmoid(logit), the
P(relevant) of a model trained with binary cross-entropy such as the MS MARCO cross-encoders;
`logit`: the raw score), and `thresholds: [t1, t2]` cut it into grades: below t1 -> 0, from t1 -> 1,
from t2 -> 2. The scores come out raw whatever activation the model's config names, so the same
thresholds mean the same thing for every model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from spladeforge.config.machine_judges import CrossEncoderJudgeConfig
from spladeforge.errors import ConfigError
from spladeforge.judging.machine import Pair
from spladeforge.models.build import resolve_device
from spladeforge.models.builtin import resolve_model

KEY = "judge.machine.cross_encoder"


def grades_from_scores(scores: np.ndarray, thresholds: tuple[float, float]) -> list[int]:
    """0 below thresholds[0], 1 from thresholds[0], 2 from thresholds[1]."""
    low, high = thresholds
    return [2 if s >= high else 1 if s >= low else 0 for s in np.asarray(scores, dtype=np.float64)]


def cross_encoder_label(cfg: CrossEncoderJudgeConfig) -> str:
    if cfg.label:
        return f"cross-encoder:{cfg.label}"
    model = str(cfg.model)
    # A local folder is named by its folder name, a hub id as written.
    local = model.startswith(("builtin:", ".", "/", "~")) or Path(model).expanduser().exists()
    return f"cross-encoder:{Path(model).name if local else model}"


class CrossEncoderJudge:
    """Grades pairs with `judge.machine.cross_encoder.model`, `batch_size` pairs per forward pass."""

    def __init__(self, cfg: CrossEncoderJudgeConfig) -> None:
        if not cfg.model:
            raise ConfigError(f"{KEY}.model: set a cross-encoder (a hub id such as "
                              "cross-encoder/ms-marco-MiniLM-L-6-v2, or a local folder)")
        import torch
        from sentence_transformers import CrossEncoder

        path = resolve_model(cfg.model, key=f"{KEY}.model")
        try:
            self.model = CrossEncoder(path, device=resolve_device(cfg.device), max_length=cfg.max_length,
                                      activation_fn=torch.nn.Identity())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{KEY}.model: {cfg.model!r} does not load as a cross-encoder ({exc})") from None
        if self.model.num_labels != 1:
            raise ConfigError(f"{KEY}.model: {cfg.model!r} has {self.model.num_labels} outputs; a relevance "
                              "cross-encoder has one (a relevance score per pair)")
        self.cfg = cfg
        self.label = cross_encoder_label(cfg)

    def scores(self, pairs: Sequence[Pair]) -> np.ndarray:
        import torch

        logits = self.model.predict([(p.query, p.shown) for p in pairs], batch_size=self.cfg.batch_size,
                                    activation_fn=torch.nn.Identity(), show_progress_bar=False,
                                    convert_to_numpy=True)
        logits = np.asarray(logits, dtype=np.float64).reshape(len(pairs))
        return 1.0 / (1.0 + np.exp(-logits)) if self.cfg.scale == "sigmoid" else logits

    def grade(self, pairs: Sequence[Pair]) -> list[int]:
        return grades_from_scores(self.scores(pairs), self.cfg.thresholds)
