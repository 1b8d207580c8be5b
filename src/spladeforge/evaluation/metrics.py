"""The flat metrics.json of an evaluate run, as DVC and the register stage read it.

Keys are `{prefix}{system}_{metric}`: the held-out task has no prefix (`model_ndcg_at_10`,
`base_ndcg_at_10`, `bm25_ndcg_at_10`, ... keep their meaning across runs), other tasks' keys start
with the task label (`<task>_model_ndcg_at_10`). Counts of queries and documents, the change
against the base model and, given a baseline file, against that baseline are added. Each local
task's `{prefix}set_sha256` is the content hash of its queries, qrels and corpus
(`BeirData.content_sha256`): the set its figures were measured on, which `register` checks the
reference was measured on too.
"""

from __future__ import annotations

from typing import Any

from spladeforge.evaluation.beir import BeirData
from spladeforge.evaluation.report import COLUMNS, EFFICIENCY, baseline_deltas
from spladeforge.evaluation.tasks import EvalTask

DIGITS = 4
# Beside report.md in evaluate's folder: task label -> system -> query id -> NDCG@10.
PER_QUERY_FILE = "per_query.json"
HELD_OUT_LABEL = "held-out"  # the label of the task evaluate's `--task` folder becomes


def task_label(prefix: str) -> str:
    """The per-query file's task label for a metrics.json prefix (`` is the held-out task)."""
    return prefix.removesuffix("_") or HELD_OUT_LABEL


def flat_metrics(
    per_task: dict[str, dict[str, dict[str, float]]], tasks: list[EvalTask], heldout: BeirData
) -> dict[str, float | int | str]:
    """`{prefix}{system}_{metric}` for every task, system and metric; counts; the delta vs base."""
    metrics: dict[str, float | int | str] = {
        "num_queries": len(heldout.queries),
        "num_queries_without_judgments": len(heldout.unjudged_query_ids),
        "num_documents": len(heldout.corpus),
    }
    keys = (*COLUMNS, *EFFICIENCY, "query_sparsity")
    for task in tasks:
        if task.prefix and task.data is not None:
            metrics[f"{task.prefix}num_queries"] = len(task.data.queries)
            metrics[f"{task.prefix}num_queries_without_judgments"] = len(task.data.unjudged_query_ids)
            metrics[f"{task.prefix}num_documents"] = len(task.data.corpus)
        if task.data is not None:
            metrics[f"{task.prefix}set_sha256"] = task.data.content_sha256()
        for system, values in per_task[task.label].items():
            for key in keys:
                if key in values:
                    digits = 6 if key.endswith("sparsity") else DIGITS
                    metrics[f"{task.prefix}{system}_{key}"] = round(values[key], digits)
        results = per_task[task.label]
        if "base" in results:
            delta = results["model"]["ndcg_at_10"] - results["base"]["ndcg_at_10"]
            metrics[f"{task.prefix}ndcg_at_10_delta_vs_base"] = round(delta, DIGITS)
    return metrics


def add_baseline_deltas(metrics: dict[str, Any], previous: dict[str, float] | None) -> dict | None:
    """Add `<key>_delta_vs_baseline` for each NDCG@10 both hold; return every quality delta (or None)."""
    if previous is None:
        return None
    deltas = baseline_deltas(metrics, previous)
    for key, (_, _, delta) in deltas.items():
        if key.endswith("ndcg_at_10"):
            metrics[f"{key}_delta_vs_baseline"] = round(delta, DIGITS)
    return deltas
