"""Losses for the three architectures, built on sentence-transformers' sparse losses.

| architecture   | loss                                                                 |
| -------------- | -------------------------------------------------------------------- |
| splade         | SpladeLoss(SparseMultipleNegativesRankingLoss or a distillation loss) |
| inference-free | same, query regularizer 0                                            |
| csr            | CSRLoss(SparseMultipleNegativesRankingLoss)                          |

Distillation replaces the ranking loss whenever the mined tuples carry teacher scores:
SparseMarginMSELoss for (query, positive, negative) with one margin label, SparseDistillKLDivLoss
for several negatives with a score list (Hofstätter et al. 2020; Formal et al. 2022). The labels
are teacher logits (`mining.teacher.teacher_logits`: raw cross-encoder logits, bi-encoder cosines
times the bi-encoder's own training scale), so margins span several units like the student's dot
products, and the KL targets, a softmax at `KL_TEMPERATURE`, are neither flat nor one-hot.
`train.teacher_scale: auto` multiplies them so that the teacher's margins spread like the
student's own before training (`auto_teacher_scale`).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import torch
from sentence_transformers.sparse_encoder.losses import FlopsLoss

from spladeforge.config import TrainConfig
from spladeforge.errors import ConfigError

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder import SparseEncoder

logger = logging.getLogger(__name__)

# Tuples whose student margins set `teacher_scale: auto`: enough for a stable std, a few seconds to encode.
TEACHER_SCALE_SAMPLE = 256


# The IDF-aware FLOPS scale stays in this range, with mean 1 over the (non-special) vocabulary:
# the penalty is therefore within [0.25, 16] x plain FLOPS whatever the corpus size, so the
# document regularizer weights tuned for FLOPS (3e-3, SPLADE) stay meaningful. An unbounded
# idf_max / idf reaches ~2e4 on a 1.7k-chunk corpus and ~2e6 at 100k chunks (a token in every
# chunk has IDF ~5e-6), squared in the penalty, and drowns the ranking loss.
IDF_SCALE_RANGE = (0.5, 4.0)


class IdfFlopsLoss(FlopsLoss):
    """FLOPS that penalises common tokens more than informative ones: sum_j (s_j * mean_i w_ij)^2.

    s_j = clip(c / idf_j, 0.5, 4) with c chosen so that s has mean 1 over the vocabulary
    (`idf_penalty_scale`): tokens the corpus rarely uses keep about FLOPS' own weight, the most
    common ones are penalised up to 4x (16x in the square). Special tokens ([CLS], [SEP], [PAD],
    IDF 0 by construction) are left out of the mean and keep plain FLOPS (s = 1): their IDF says
    nothing about how informative they are.

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
        low, high = IDF_SCALE_RANGE
        return {"threshold": self.threshold, "weighting": f"clip(c / idf, {low:g}, {high:g}), mean 1"}


def idf_penalty_scale(idf: torch.Tensor, scale_range: tuple[float, float] = IDF_SCALE_RANGE) -> torch.Tensor:
    """Per-token penalty scale clip(c / idf, low, high), c such that the mean over tokens with IDF > 0 is 1.

    Tokens with IDF 0 (special tokens) get 1. The mean of the clipped values grows with c, so
    c is found by bisection (on log c, between the c that clips everything low and the one that
    clips everything high).
    """
    low, high = scale_range
    regular = idf > 0
    if not regular.any():
        raise ValueError("idf-flops needs at least one token with a positive corpus IDF")
    inverse = 1.0 / idf[regular].double()
    lo_c, hi_c = low / inverse.max().item(), high / inverse.min().item()
    for _ in range(100):
        mid = math.sqrt(lo_c * hi_c)
        if (mid * inverse).clamp(low, high).mean().item() < 1.0:
            lo_c = mid
        else:
            hi_c = mid
    scale = torch.ones_like(idf, dtype=torch.float32)
    scale[regular] = (hi_c * inverse).clamp(low, high).float()
    return scale


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


# Softmax temperature of both the student's dot products and the teacher's logits in the KL loss
# (Hinton et al. 2015's T). Teacher logits a few units apart per query (cosines 0.2-0.7 x 20, or
# cross-encoder logits) give targets that are neither flat nor one-hot at 2, which is also
# sentence-transformers' default for sparse students (lower drives them towards zero active dims).
KL_TEMPERATURE = 2.0


def ranking_loss(cfg: TrainConfig, model: SparseEncoder, distill: str | None):
    from sentence_transformers.sparse_encoder import losses

    if distill == "margin-mse":
        return losses.SparseMarginMSELoss(model)
    if distill == "kl-div":
        return losses.SparseDistillKLDivLoss(model, temperature=KL_TEMPERATURE)
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


def auto_teacher_scale(model: SparseEncoder, columns: dict[str, list[Any]],
                       sample: int = TEACHER_SCALE_SAMPLE) -> float:
    """The factor that gives the teacher's margins (positive - first negative) the student's std.

    MarginMSE regresses the student's margins onto the teacher's: normalized ensemble scores have
    margins of about one unit, a SPLADE model's dot products of several, and a teacher on the
    wrong scale pulls every margin towards its own spread (the cpu-adapt recipe, with matched
    spreads, reached 0.367 NDCG@10 on CISI against the base's 0.301 at the same length;
    benchmarks/adaptation.py's `teacher-scale-1` ablation measures a fixed scale). Measured on up
    to `sample` tuples taken evenly over the file, with the model before any step.
    """
    import numpy as np

    n = len(columns["anchor"])
    picked = list(range(0, n, max(1, n // sample)))[:sample]
    teacher = np.array([columns["scores"][i][0] - columns["scores"][i][1] for i in picked], dtype=np.float64)
    texts = {key: [columns[key][i] for i in picked] for key in ("anchor", "positive", "negative_1")}
    query = model.encode_query(texts["anchor"], convert_to_tensor=True, convert_to_sparse_tensor=False)
    positive = model.encode_document(texts["positive"], convert_to_tensor=True, convert_to_sparse_tensor=False)
    negative = model.encode_document(texts["negative_1"], convert_to_tensor=True, convert_to_sparse_tensor=False)
    student = ((query * positive).sum(1) - (query * negative).sum(1)).double().cpu().numpy()
    if teacher.std() == 0 or student.std() == 0:
        logger.warning("train.teacher_scale: auto found no spread in the %s margins of %d tuples; using 1",
                       "teacher" if teacher.std() == 0 else "student", len(picked))
        return 1.0
    scale = float(student.std() / teacher.std())
    logger.info("train.teacher_scale: auto = %.4g (student margin std %.3g, teacher %.3g, over %d tuples)",
                scale, student.std(), teacher.std(), len(picked))
    return scale


def teacher_scale(cfg: TrainConfig, model: SparseEncoder, columns: dict[str, list[Any]],
                  distill: str | None) -> float | None:
    """`train.teacher_scale` resolved: None without distillation, else the number used."""
    if distill is None:
        return None
    if cfg.teacher_scale == "auto":
        return auto_teacher_scale(model, columns)
    return float(cfg.teacher_scale)
