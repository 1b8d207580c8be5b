"""Stage `evaluate`: score the trained model, its base model and BM25 on one BEIR folder with MTEB.

All systems rank the same corpus for the same judged queries in one run. Queries without a
judged-relevant document are counted and left out, not averaged in as zeros.

Writes `out_dir/` (MTEB's result files under `mteb/`, each system's top 100 per query under
`predictions/`, and `report.md`) and `metrics_path`, a flat JSON dict for DVC
(`model_ndcg_at_10`, `base_ndcg_at_10`, `bm25_ndcg_at_10`, ..., `ndcg_at_10_delta_vs_base`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spladeforge.config import EvaluateConfig
from spladeforge.evaluation.beir import BeirData, load_beir
from spladeforge.io import atomic_output, write_json

# metric key -> column title in report.md; the first three come from MTEB.
COLUMNS = {
    "ndcg_at_10": "NDCG@10",
    "mrr_at_10": "MRR@10",
    "recall_at_100": "Recall@100",
    "query_active_dims": "query active dims",
    "doc_active_dims": "doc active dims",
}
DIGITS = 4


def run(cfg: EvaluateConfig, model_dir: Path, task_dir: Path, out_dir: Path, metrics_path: Path) -> dict:
    """Evaluate and write the outputs; return a short summary for the CLI to print."""
    from spladeforge.evaluation.mteb_task import LocalRetrievalTask
    from spladeforge.evaluation.systems import bm25_system, evaluate_model
    from spladeforge.models.build import resolve_device
    from spladeforge.models.builtin import resolve_model
    from spladeforge.models.saved import SIDECAR, load_base_model, load_saved_model

    data = load_beir(task_dir).subsample(cfg.max_queries)
    device = resolve_device("auto")
    model, meta = load_saved_model(model_dir, device=device)
    if cfg.compare_base:  # a base model that cannot be found fails now, not after the first evaluation
        resolve_model(meta["base_model"], key=f"{Path(model_dir) / SIDECAR}: base_model")
    task = LocalRetrievalTask(data)
    results: dict[str, dict[str, float]] = {}
    with atomic_output(out_dir, directory=True) as tmp:

        def evaluate(system: Any, name: str) -> dict[str, float]:
            return evaluate_model(system, task, name=name, batch_size=cfg.batch_size, output_dir=tmp)

        results["model"] = evaluate(model, "model")
        del model
        if cfg.compare_base:
            results["base"] = evaluate(load_base_model(model_dir, meta, device=device), "base")
        if cfg.compare_bm25:
            results["bm25"] = evaluate(bm25_system(), "bm25")
        metrics = flat_metrics(results, data)
        (tmp / "report.md").write_text(render_report(results, metrics, data), encoding="utf-8")
    write_json(metrics_path, metrics)
    summary = {key: value for key, value in metrics.items()
               if "ndcg_at_10" in key or key.startswith("num_")}
    summary["report"] = str(Path(out_dir) / "report.md")
    return summary


def flat_metrics(results: dict[str, dict[str, float]], data: BeirData) -> dict[str, float | int]:
    """`{system}_{metric}` for every system and metric, the query/document counts, the delta."""
    metrics: dict[str, float | int] = {
        "num_queries": len(data.queries),
        "num_queries_without_judgments": len(data.unjudged_query_ids),
        "num_documents": len(data.corpus),
    }
    for system, values in results.items():
        for key in COLUMNS:
            if key in values:
                metrics[f"{system}_{key}"] = round(values[key], DIGITS)
    if "base" in results:
        delta = results["model"]["ndcg_at_10"] - results["base"]["ndcg_at_10"]
        metrics["ndcg_at_10_delta_vs_base"] = round(delta, DIGITS)
    return metrics


def render_report(results: dict[str, dict[str, float]], metrics: dict[str, Any], data: BeirData) -> str:
    import mteb

    lines = [
        "# Retrieval evaluation",
        "",
        f"Task: `{data.folder}` (content hash {data.fingerprint}), scored by MTEB {mteb.__version__}.",
        f"{metrics['num_queries']} judged queries over {metrics['num_documents']} documents; "
        f"{metrics['num_queries_without_judgments']} queries without a judged-relevant document "
        "were left out.",
        "",
        "| system | " + " | ".join(COLUMNS.values()) + " | seconds |",
        "| --- |" + " ---: |" * (len(COLUMNS) + 1),
    ]
    for system, values in results.items():
        cells = [_cell(key, values.get(key)) for key in COLUMNS]
        lines.append(f"| {system} | " + " | ".join(cells) + f" | {values['seconds']:.1f} |")
    if "ndcg_at_10_delta_vs_base" in metrics:
        lines += ["", f"NDCG@10 change against the base model: {metrics['ndcg_at_10_delta_vs_base']:+.4f}"]
    return "\n".join(lines) + "\n"


def _cell(key: str, value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1f}" if key.endswith("active_dims") else f"{value:.4f}"
