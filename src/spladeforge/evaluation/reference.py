"""Score a saved model on the sets the promotion gate compares, exactly as `evaluate` scores the challenger.

`register` uses it for the reference model (the champion, downloaded from the registry): the
sets are loaded by the same functions and settings as evaluate's (`evaluate.max_queries`,
`evaluate.beir_split`), the model is the `model` system of `evaluation.systems` (its own
max_seq_length, the fused head when `evaluate.fused_head`), and MTEB scores it through
`systems.evaluate_model`. Its figures and per-query NDCG@10 are therefore comparable, query by
query, with what evaluate wrote for the challenger, and the set hashes say so.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from spladeforge.config import EvaluateConfig
from spladeforge.config.release import JUDGED_LABEL
from spladeforge.errors import ConfigError, InputError
from spladeforge.evaluation.beir import BeirData, load_beir
from spladeforge.evaluation.judged import load_judgments
from spladeforge.evaluation.metrics import HELD_OUT_LABEL
from spladeforge.evaluation.tasks import load_beir_tasks


class ScoredSet(NamedTuple):
    """One model on one set: MTEB's figures (ndcg_at_10, doc_active_dims, ...) and NDCG@10 per query."""

    figures: dict[str, float]
    per_query: dict[str, float]
    set_sha256: str


def load_gate_sets(cfg: EvaluateConfig, task_dir: Path, labels: Iterable[str],
                   judgments: Path | None = None) -> dict[str, BeirData]:
    """label -> the data evaluate scored for that label: the held-out task, the judgments folder
    (`judgments`, default `cfg.judgments`, over the test split's corpus) or a folder of `cfg.beir_datasets`."""
    wanted = set(labels)
    sets: dict[str, BeirData] = {}
    if wanted & {HELD_OUT_LABEL, JUDGED_LABEL}:
        heldout = load_beir(task_dir).subsample(cfg.max_queries)
        if HELD_OUT_LABEL in wanted:
            sets[HELD_OUT_LABEL] = heldout
    if JUDGED_LABEL in wanted:
        folder = judgments if judgments is not None else Path(cfg.judgments)
        judged = load_judgments(cfg, folder, heldout.corpus)
        if judged is None or judged.data is None:
            raise InputError(f"{folder}: holds no query graded above 0, but the gate's {JUDGED_LABEL}_model_ndcg_at_10 "
                             "is measured on it; judge some queries or name another register.metric")
        sets[JUDGED_LABEL] = judged.data
    others = wanted - {HELD_OUT_LABEL, JUDGED_LABEL}
    if others:
        loaded = dict(load_beir_tasks(cfg.beir_datasets, cfg.beir_split, cfg.max_queries))
        missing = sorted(others - set(loaded))
        if missing:
            raise ConfigError(f"evaluate.beir_datasets: no folder gives the label(s) {', '.join(missing)} "
                              f"(labels there: {', '.join(sorted(loaded)) or 'none'})")
        sets.update({label: loaded[label] for label in others})
    return sets


def score_saved_model(cfg: EvaluateConfig, model_dir: Path, sets: dict[str, BeirData],
                      name: str = "reference") -> dict[str, ScoredSet]:
    """label -> the model in `model_dir` scored on that set, through the same MTEB path as evaluate."""
    # MTEB and torch take seconds to import: only when a model is scored.
    from spladeforge.evaluation.compare import per_query_ndcg
    from spladeforge.evaluation.systems import evaluate_model, model_system
    from spladeforge.evaluation.tasks import local_task
    from spladeforge.models.build import resolve_device

    system = model_system(cfg, Path(model_dir), resolve_device("auto"))
    scored = {}
    for label, data in sets.items():
        task = local_task(data, label, prefix="" if label == HELD_OUT_LABEL else f"{label}_").task
        figures = evaluate_model(system, task, name=name, batch_size=cfg.batch_size, show_progress_bar=False)
        per_query = per_query_ndcg(task, data.qrels, figures["ndcg_at_10"], f"{name} on {label}")
        scored[label] = ScoredSet(figures, per_query, data.content_sha256())
    return scored
