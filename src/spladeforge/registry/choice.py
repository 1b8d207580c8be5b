"""Which figure decides the gate: `register.metric`, resolved against what evaluate measured.

`auto` (the default) picks the team's judged queries (`judged_model_ndcg_at_10`) once evaluate
says they are enough (`judged_enough: true`, at least `evaluate.judgments_min_queries` queries
graded above 0), else the generated test split (`model_ndcg_at_10`). A metric named in params
wins. Generated queries are written from the documents themselves and judged by string match,
which favours the base model: across 13 recorded CISI runs the generated-test gain and the
judged NDCG@10 correlated at r = -0.62. When the judged set decides, the test split becomes the
`register.collapse_guard`: only a drop larger than the one adaptation itself causes there refuses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spladeforge.config import EvaluateConfig, RegisterConfig
from spladeforge.config.release import AUTO_METRIC, JUDGED_METRIC
from spladeforge.io import read_json
from spladeforge.registry.policy import NDCG_KEY


def choose_metric(cfg: RegisterConfig, metrics_path: Path, evaluate: EvaluateConfig) -> tuple[RegisterConfig, str]:
    """`cfg` with `metric` resolved (and the collapse guard added when the judged set decides), and why."""
    metrics: Any = read_json(metrics_path)
    metrics = metrics if isinstance(metrics, dict) else {}
    scored = metrics.get("judged_num_queries")
    least = metrics.get("judged_min_queries", evaluate.judgments_min_queries)
    if cfg.metric != AUTO_METRIC:
        metric, why = cfg.metric, "register.metric in params"
    elif metrics.get("judged_enough") is True:
        metric, why = JUDGED_METRIC, f"judged: {scored} queries >= {least} (register.metric auto)"
    elif scored is not None:
        metric, why = NDCG_KEY, (f"the test split: judged holds {scored} queries < {least} "
                                 "(evaluate.judgments_min_queries; register.metric auto)")
    else:
        metric, why = NDCG_KEY, f"the test split: no judged queries in {evaluate.judgments} (register.metric auto)"
    guards = list(cfg.guards)
    collapse = cfg.collapse_guard
    if metric == JUDGED_METRIC and collapse is not None and all(g.metric != collapse.metric for g in guards):
        guards.append(collapse)
        why += f"; the test split guards against collapse (register.collapse_guard, max_drop {collapse.max_drop:g})"
    return cfg.model_copy(update={"metric": metric, "guards": guards}), why
