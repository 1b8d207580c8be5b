"""Teacher scores for (query, document) pairs, stored as `scores: [pos, neg_1, ...]` in logits.

Distillation losses (MarginMSE, KL-Div; Hofstätter et al., 2020) learn the teacher's score
margins instead of binary labels. `dense`: the mining bi-encoder. `cross-encoder <ref>`: any
sentence-transformers CrossEncoder (e.g. cross-encoder/ms-marco-MiniLM-L6-v2). `ensemble`:
normalized BM25 / dense / base-model scores, computed while mining (`mining.ensemble`).

The scores are stored on a logit scale (`teacher_logits`, the one place the rule lives), because
the student's scores are SPLADE dot products whose margins span several units: MarginMSE on
cosine margins (~0.1) would pull them towards zero, and a softmax of cosines is nearly uniform.
"""

from __future__ import annotations

from typing import Any

from spladeforge.config import MineConfig
from spladeforge.errors import ConfigError
from spladeforge.models.build import load_dense_encoder
from spladeforge.models.builtin import resolve_model

# A bi-encoder's cosine read at the temperature it was trained with: all-MiniLM-L6-v2 (the
# built-in dense model) and most sentence-transformers retrievers are trained with
# MultipleNegativesRankingLoss at scale 20 (temperature 0.05), so cos x 20 is the logit of the
# teacher's own softmax. Cosines 0.2-0.7 become logits 4-14: margins of a few units.
DENSE_LOGIT_SCALE = 20.0


def teacher_logits(scores: list[float], kind: str) -> list[float]:
    """Raw teacher scores -> the logits distillation learns from (MarginMSE margins, KL targets).

    - `cross-encoder`: its raw logits (no sigmoid), as GPL (Wang et al. 2022) and Hofstätter et
      al. (2020) distil cross-encoder margins with MarginMSE;
    - `dense`: cosine x DENSE_LOGIT_SCALE, the bi-encoder's own contrastive scale;
    - `ensemble`: the per-query normalized scores of `mining.ensemble` as they are (z-scores
      span a few units; `train.teacher_scale` matches them to the student's margins).
    """
    if kind == "ensemble":
        return list(scores)
    if kind == "dense":
        return [score * DENSE_LOGIT_SCALE for score in scores]
    if kind == "cross-encoder":
        return list(scores)
    raise ValueError(f"unknown teacher kind {kind!r} (accepted: dense, cross-encoder, ensemble)")


class Teacher:
    def __init__(self, spec: str, dense_model: str, batch_size: int = 32, dense=None) -> None:
        self.spec = spec
        self.batch_size = batch_size
        kind, _, ref = spec.partition(" ")
        if kind == "dense":
            self.model = dense if dense is not None else load_dense_encoder(dense_model, key="mine.dense_model")
            self.kind = "dense"
        else:
            from sentence_transformers import CrossEncoder

            path = resolve_model(ref.strip(), key="mine.teacher")
            try:
                self.model = CrossEncoder(path, device="cpu", local_files_only=path.startswith("/"))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"mine.teacher: cannot load cross-encoder {ref.strip()!r} "
                                  f"({exc})") from None
            self.kind = "cross-encoder"

    def score(self, pairs: list[tuple[str, str]]) -> list[float]:
        """Raw scores: cross-encoder logits (activation off), or bi-encoder cosines."""
        if not pairs:
            return []
        if self.kind == "cross-encoder":
            import torch

            scores = self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False,
                                        activation_fn=torch.nn.Identity())
            return [float(s) for s in scores]
        queries = list(dict.fromkeys(q for q, _ in pairs))
        docs = list(dict.fromkeys(d for _, d in pairs))
        q_emb = self.model.encode(queries, batch_size=self.batch_size, normalize_embeddings=True,
                                  convert_to_tensor=True, show_progress_bar=False)
        d_emb = self.model.encode(docs, batch_size=self.batch_size, normalize_embeddings=True,
                                  convert_to_tensor=True, show_progress_bar=False)
        qi = {q: i for i, q in enumerate(queries)}
        di = {d: i for i, d in enumerate(docs)}
        return [float(q_emb[qi[q]] @ d_emb[di[d]]) for q, d in pairs]


def add_teacher_scores(cfg: MineConfig, tuples: list[dict[str, Any]], dense=None) -> None:
    """Set each tuple's `scores`: the teacher's logit for (anchor, positive), then for each negative.

    `dense` is the mining model when `mine.method: dense` loaded one: the `dense` teacher reuses it.
    """
    teacher = Teacher(cfg.teacher, cfg.dense_model, cfg.batch_size, dense=dense)
    width = 1 + cfg.num_negatives
    pairs = [(t["anchor"], t[key]) for t in tuples
             for key in ["positive"] + [f"negative_{n}" for n in range(1, cfg.num_negatives + 1)]]
    scores = teacher_logits(teacher.score(pairs), teacher.kind)
    for i, t in enumerate(tuples):
        t["scores"] = [round(s, 6) for s in scores[i * width:(i + 1) * width]]
