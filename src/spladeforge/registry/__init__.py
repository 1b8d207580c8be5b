"""Model registry plumbing for `register`: the pyfunc wrapper, the promotion gate, MLflow helpers."""

from __future__ import annotations

from spladeforge.registry.policy import CHALLENGER, CHAMPION, NDCG_TAG, Decision, decide

__all__ = ["CHALLENGER", "CHAMPION", "NDCG_TAG", "Decision", "decide"]
