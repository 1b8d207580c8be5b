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

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder import SparseEncoder


class IdfFlopsLoss(FlopsLoss):
    """FLOPS with every vocabulary entry weighted by its corpus IDF: sum_j (idf_j * mean_i w_ij)^2.

    The form of seed 002 (section 7.3); arXiv 2411.04403 motivates bringing IDF into the
    sparsification of inference-free models. Only the weighting is new: thresholds and the rest
    of FlopsLoss stay as sentence-transformers defines them.
    """

    def __init__(self, model: SparseEncoder, idf: torch.Tensor, threshold: float | None = None) -> None:
        super().__init__(model, threshold=threshold)
        self.register_buffer("idf", idf.float(), persistent=False)

    def compute_loss_from_embeddings(self, embeddings: torch.Tensor) -> torch.Tensor:
        if self.threshold is not None:
            mask = ((embeddings != 0).sum(dim=1) > self.threshold).float()
            embeddings = embeddings * mask.unsqueeze(1)
        idf = self.idf.to(device=embeddings.device, dtype=embeddings.dtype)
        return torch.sum((torch.mean(embeddings, dim=0) * idf) ** 2)

    def get_config_dict(self) -> dict:
        return {"threshold": self.threshold, "weighting": "idf"}


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
