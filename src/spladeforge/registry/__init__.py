"""The model registry for `register`: the promotion gate, the MLflow store and tracking, champion moves, the pyfunc."""

from __future__ import annotations

from spladeforge.registry.policy import CHALLENGER, CHAMPION, NDCG_TAG, Decision, decide

__all__ = ["CHALLENGER", "CHAMPION", "NDCG_TAG", "Decision", "decide"]
