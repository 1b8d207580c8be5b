"""Losses for the three architectures, built on sentence-transformers' sparse losses.

| architecture   | loss                                                                 |
| -------------- | -------------------------------------------------------------------- |
| splade         | SpladeLoss(SparseMultipleNegativesRankingLoss or a distillation loss) |
| inference-free | same, query regularizer 0                                            |
| csr            | CSRLoss(SparseMultipleNegativesRankingLoss)                          |

Distillation replaces the ranking loss whenever the mined tuples carry teacher scores:
SparseMarginMSELoss for (query, positive, negative) with one margin label, SparseDistillKLDivLoss
for several negatives with a score list (Hofstätter et al. 2020; Formal et al. 2022).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from sentence_transformers.sparse_encoder.losses import FlopsLoss

from spladeforge.config import TrainConfig
from spladeforge.errors import ConfigError

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder import SparseEncoder


class IdfFlopsLoss(FlopsLoss):
    """FLOPS that penalises common tokens more than informative ones: sum_j (s_j * mean_i w_ij)^2.

    s_j = idf_max / max(idf_j, idf_min), with idf_min the smallest positive corpus IDF: the rarest
    tokens keep FLOPS' own weight (s = 1), the most common ones are penalised idf_max / idf_min
    times more, and special tokens (IDF 0) as much as the most common token.

    arXiv 2411.04403 (Geng et al., "Towards Competitive Search Relevance For Inference-Free
    Learned Sparse Retrievers") brings IDF into sparsification so that it "suppresses the
    contribution of low-IDF tokens and increases the model's focus on informative terms". In
    the authors' reference training code this comes from the matching function: the query side
    is one-hot times IDF and FLOPS acts on the raw document weights, so per unit of score an
    informative token is penalised less. spladeforge's inference-free architecture scores the
    same way (IDF-initialised static query weights), so plain `flops` already is that loss there;
    `idf-flops` gives a SPLADE model (whose queries carry no IDF) the same direction of
    preference. The literal form sum_j (idf_j * mean_i w_ij)^2 would do the opposite: it
    penalises the rare, informative tokens most.
    """

    def __init__(self, model: SparseEncoder, idf: torch.Tensor, threshold: float | None = None) -> None:
        super().__init__(model, threshold=threshold)
        self.register_buffer("scale", idf_penalty_scale(idf), persistent=False)

    def compute_loss_from_embeddings(self, embeddings: torch.Tensor) -> torch.Tensor:
        if self.threshold is not None:
            mask = ((embeddings != 0).sum(dim=1) > self.threshold).float()
            embeddings = embeddings * mask.unsqueeze(1)
        scale = self.scale.to(device=embeddings.device, dtype=embeddings.dtype)
        return torch.sum((torch.mean(embeddings, dim=0) * scale) ** 2)

    def get_config_dict(self) -> dict:
        return {"threshold": self.threshold, "weighting": "idf_max / idf"}


def idf_penalty_scale(idf: torch.Tensor) -> torch.Tensor:
    """Per-token penalty scale idf_max / max(idf, idf_min): 1 for the rarest tokens, larger for common ones."""
    idf = idf.float()
    positive = idf[idf > 0]
    if positive.numel() == 0:
        raise ValueError("idf-flops needs at least one token with a positive corpus IDF")
    return positive.max() / idf.clamp(min=positive.min().item())


def distillation_mode(cfg: TrainConfig, has_scores: bool, negatives_per_tuple: int) -> str | None:
    """`train.distillation` resolved against the tuples: margin-mse, kl-div, or None (ranking loss)."""
    if cfg.distillation == "none" or not has_scores:
        if cfg.distillation in ("margin-mse", "kl-div"):
            raise ConfigError(f"train.distillation: {cfg.distillation} needs teacher scores in the "
                              "mined tuples (set mine.teacher), or use auto/none")
        return None
    if cfg.distillation == "auto":
        return "margin-mse" if negatives_per_tuple == 1 else "kl-div"
    if cfg.distillation == "margin-mse" and negatives_per_tuple != 1:
        raise ConfigError("train.distillation: margin-mse takes one negative per tuple "
                          f"(mined {negatives_per_tuple}); use kl-div or mine.num_negatives: 1")
    return cfg.distillation


def ranking_loss(cfg: TrainConfig, model: SparseEncoder, distill: str | None):
    from sentence_transformers.sparse_encoder import losses

    if distill == "margin-mse":
        return losses.SparseMarginMSELoss(model)
    if distill == "kl-div":
        return losses.SparseDistillKLDivLoss(model)
    return losses.SparseMultipleNegativesRankingLoss(model, scale=cfg.scale)


def build_loss(cfg: TrainConfig, model: SparseEncoder, distill: str | None, idf: torch.Tensor | None):
    from sentence_transformers.sparse_encoder import losses

    inner = ranking_loss(cfg, model, distill)
    if cfg.architecture == "csr":
        return losses.CSRLoss(model, loss=inner, beta=cfg.csr_beta)
    document_regularizer = None
    if cfg.document_regularizer == "idf-flops":
        if idf is None:
            raise ValueError("idf-flops needs corpus IDF weights")
        document_regularizer = IdfFlopsLoss(model, idf)
    query_weight = cfg.query_regularizer_weight if cfg.architecture == "splade" else None
    return losses.SpladeLoss(
        model,
        loss=inner,
        document_regularizer_weight=cfg.document_regularizer_weight,
        query_regularizer_weight=query_weight,
        document_regularizer=document_regularizer,
    )
