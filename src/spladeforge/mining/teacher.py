"""Teacher scores for (query, document) pairs, stored as `scores: [pos, neg_1, ...]`.

Distillation losses (MarginMSE, KL-Div; Hofstätter et al., 2020) learn the teacher's score
margins instead of binary labels. `dense`: cosine of the mining bi-encoder. `cross-encoder
<ref>`: any sentence-transformers CrossEncoder (e.g. cross-encoder/ms-marco-MiniLM-L6-v2).
"""

from __future__ import annotations

from typing import Any

from spladeforge.config import MineConfig
from spladeforge.errors import ConfigError
from spladeforge.models.build import load_dense_encoder
from spladeforge.models.builtin import resolve_model


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
        if not pairs:
            return []
        if self.kind == "cross-encoder":
            scores = self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False)
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
    """Set each tuple's `scores`: the teacher's score of (anchor, positive), then of each negative.

    `dense` is the mining model when `mine.method: dense` loaded one: the `dense` teacher reuses it.
    """
    teacher = Teacher(cfg.teacher, cfg.dense_model, cfg.batch_size, dense=dense)
    width = 1 + cfg.num_negatives
    pairs = [(t["anchor"], t[key]) for t in tuples
             for key in ["positive"] + [f"negative_{n}" for n in range(1, cfg.num_negatives + 1)]]
    scores = teacher.score(pairs)
    for i, t in enumerate(tuples):
        t["scores"] = [round(s, 6) for s in scores[i * width:(i + 1) * width]]
