"""The evaluate stage's human-readable outputs: report.md, report.json, the error analysis, PNG
plots, and the baseline comparison.

Plots are drawn with matplotlib's Agg backend (no display) into `plots/`, which dvc.yaml
declares as image plots of the evaluate stage.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spladeforge.config import EvaluateConfig
from spladeforge.config.release import JUDGED_LABEL
from spladeforge.errors import InputError
from spladeforge.evaluation.error_analysis import render_errors
from spladeforge.evaluation.tasks import EvalTask
from spladeforge.io import read_json, write_json

if TYPE_CHECKING:  # compare imports MTEB; this module is imported before any input is checked
    from spladeforge.evaluation.compare import Comparison

# metric key -> column title in report.md
COLUMNS = {
    "ndcg_at_10": "NDCG@10",
    "mrr_at_10": "MRR@10",
    "recall_at_10": "Recall@10",
    "recall_at_100": "Recall@100",
    "recall_at_1000": "Recall@1000",
    "map_at_100": "MAP@100",
    "judged_at_10": "Judged@10",
}
EFFICIENCY = {
    "query_active_dims": "query dims",
    "doc_active_dims": "doc dims",
    "doc_sparsity": "doc sparsity",
    "flops": "FLOPS",
    "index_bytes": "index MB",
    "docs_per_second": "docs/s",
    "latency_p50_ms": "p50 ms",
    "latency_p95_ms": "p95 ms",
    "latency_p99_ms": "p99 ms",
}


def _cell(key: str, value: float | None) -> str:
    if value is None:
        return "–"
    if key == "index_bytes":
        return f"{value / 1e6:.2f}"
    if key.endswith(("active_dims", "per_second", "_ms")) or key == "flops":
        return f"{value:.1f}"
    return f"{value:.4f}"


def quality_table(results: dict[str, dict[str, float]]) -> list[str]:
    lines = ["| system | " + " | ".join(COLUMNS.values()) + " | seconds |",
             "| --- |" + " ---: |" * (len(COLUMNS) + 1)]
    for system, values in results.items():
        cells = [_cell(key, values.get(key)) for key in COLUMNS]
        lines.append(f"| {system} | " + " | ".join(cells) + f" | {values.get('seconds', 0.0):.1f} |")
    return lines


def efficiency_table(results: dict[str, dict[str, float]]) -> list[str]:
    rows = {s: v for s, v in results.items() if any(k in v for k in EFFICIENCY)}
    if not rows:
        return []
    lines = ["| system | " + " | ".join(EFFICIENCY.values()) + " |", "| --- |" + " ---: |" * len(EFFICIENCY)]
    for system, values in rows.items():
        lines.append(f"| {system} | " + " | ".join(_cell(k, values.get(k)) for k in EFFICIENCY) + " |")
    return lines


def write_report(cfg: EvaluateConfig, folder: Path, tasks: list[EvalTask], comparison: Comparison,
                 metrics: dict[str, Any], skipped: list[str], deltas: dict | None, baseline: Path | None,
                 judged: str | None = None, agreement: dict[str, dict[str, Any]] | None = None) -> None:
    """report.md, report.json, errors.md/errors.json and plots/*.png into `folder`.

    `judged`: what the judgments folder held (`Judgments.describe`); `agreement`: each machine
    judge's agreement with the human grades (`agreement.agreement`)."""
    from spladeforge.evaluation.agreement import agreement_lines
    import mteb

    lines = ["# Retrieval evaluation", "",
             f"Scored by MTEB {mteb.__version__}. Queries without a judged-relevant document are left "
             "out of every mean. Sparse and dense systems retrieve over spladeforge's own index; latency "
             f"is per query, encoding plus top-{comparison.latency_k}, one query at a time (not timed for "
             "the base model, which has the trained model's architecture). Judged@10 is the share of each "
             "query's top 10 that holds a judgment of any grade: on a generated test split each query has one "
             "to three graded chunks, so it is partial there by construction.", ""]
    if cfg.dense_model:
        lines += [f"Dense model `{cfg.dense_model}`; hybrid = {cfg.hybrid_weight} x min-max(model) + "
                  f"{1 - cfg.hybrid_weight:g} x min-max(dense) per query.", ""]
    for task in tasks:
        lines += [f"## {task.label}", ""]
        if task.data is not None:
            lines += [f"`{task.data.folder}` (content hash {task.data.fingerprint}): "
                      f"{len(task.data.queries)} judged queries over {len(task.data.corpus)} documents; "
                      f"{len(task.data.unjudged_query_ids)} queries without a judged-relevant document "
                      "were reported, not averaged in.", ""]
        if task.label == JUDGED_LABEL and judged:
            lines += [f"Judgments: {judged}.", ""]
        results = comparison.per_task[task.label]
        lines += quality_table(results) + [""]
        efficiency = efficiency_table(results)
        lines += efficiency + ([""] if efficiency else [])
        if f"{task.prefix}ndcg_at_10_delta_vs_base" in metrics:
            lines += [f"NDCG@10 change against the base model: "
                      f"{metrics[f'{task.prefix}ndcg_at_10_delta_vs_base']:+.4f}", ""]
    if agreement:
        lines += agreement_lines(agreement)
    if skipped:
        lines += ["## Skipped tasks", ""] + [f"- {message}" for message in skipped] + [""]
    if deltas is not None:
        lines += baseline_section(deltas, baseline) + [""]
    (folder / "report.md").write_text("\n".join(lines), encoding="utf-8")
    write_json(folder / "report.json", {"tasks": comparison.per_task, "skipped_tasks": skipped,
                                        **({"judgments": judged} if judged else {}),
                                        **({"agreement": agreement} if agreement else {})})

    plots = folder / "plots"
    plots.mkdir()
    plot_ndcg(comparison.per_task, plots / "ndcg.png")
    # Every file is always written (empty when switched off): dvc.yaml declares each one.
    plot_active_dims(comparison.active_dims, plots / "active_dims.png")
    plot_latency(comparison.latency, plots / "latency.png")
    (folder / "errors.md").write_text(render_errors(comparison.errors), encoding="utf-8")
    write_json(folder / "errors.json", comparison.errors)


# ---- baseline ------------------------------------------------------------------------------

def read_baseline(path: str | Path) -> dict[str, float]:
    """A previous metrics.json (flat) or report JSON (nested dicts are flattened with '_')."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object of metrics (a metrics.json or report JSON)")
    flat = _flatten(data)
    if not flat:
        raise InputError(f"{path}: no numeric metric found to compare against")
    return flat


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}_"))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[f"{prefix}{key}"] = float(value)
    return flat


def baseline_deltas(
    metrics: dict[str, Any], baseline: dict[str, float]
) -> dict[str, tuple[float, float, float]]:
    """key -> (baseline, current, current - baseline) for every quality metric both hold."""
    quality = tuple(COLUMNS)
    return {key: (baseline[key], float(value), float(value) - baseline[key])
            for key, value in metrics.items()
            if key in baseline and isinstance(value, int | float) and key.endswith(quality)}


def baseline_section(deltas: dict[str, tuple[float, float, float]], path: str | Path) -> list[str]:
    lines = ["## Against the baseline", "", f"Baseline: `{path}`.", ""]
    if not deltas:
        return lines + ["No quality metric in common with the baseline."]
    lines += ["| metric | baseline | now | change |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {key} | {b:.4f} | {c:.4f} | {d:+.4f} |" for key, (b, c, d) in deltas.items()]
    return lines


# ---- plots ---------------------------------------------------------------------------------

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_ndcg(per_task: dict[str, dict[str, dict[str, float]]], path: Path) -> None:
    """Grouped bars: NDCG@10 of every system on every task."""
    plt = _pyplot()
    tasks = list(per_task)
    systems = list(dict.fromkeys(s for results in per_task.values() for s in results))
    width = 0.8 / max(len(systems), 1)
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(tasks) * max(len(systems), 1) / 3), 3.5))
    for i, system in enumerate(systems):
        values = [per_task[t].get(system, {}).get("ndcg_at_10", np.nan) for t in tasks]
        ax.bar(np.arange(len(tasks)) + i * width, values, width, label=system)
    ax.set_xticks(np.arange(len(tasks)) + width * (len(systems) - 1) / 2, tasks)
    ax.set_ylabel("NDCG@10")
    ax.set_ylim(0, 1)
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))  # outside: bars reach 1.0
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_active_dims(counts: dict[str, dict[str, np.ndarray]], path: Path) -> None:
    """Histograms of active dimensions per vector, queries and documents, per sparse system."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, kind in zip(axes, ("query", "document"), strict=True):
        for system, by_kind in counts.items():
            ax.hist(by_kind[kind], bins=30, alpha=0.5, label=system)
        ax.set_title(f"{kind} active dimensions")
        ax.set_xlabel("non-zero terms per vector")
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_latency(latencies: dict[str, list[float]], path: Path) -> None:
    """Distribution of per-query latency (encode + top-10 retrieval), in milliseconds."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    names = list(latencies)
    ax.boxplot([np.asarray(latencies[n]) * 1000 for n in names], showfliers=True)
    ax.set_xticks(range(1, len(names) + 1), names)
    ax.set_ylabel("ms per query (encode + top-10)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
