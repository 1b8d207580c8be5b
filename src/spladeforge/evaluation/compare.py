"""Every system of an evaluate run on every task, scored by MTEB; on the held-out task (the first)
also each system's per-query latency, its vectors' active dimensions and the model's worst queries.

On every local task each system's per-query NDCG@10 is kept (`Comparison.per_query`): the very
figures MTEB averages, which `register` resamples to put an interval on a gain.

MTEB's result files go to `<folder>/mteb/`, each system's rankings to `<folder>/predictions/<name>/`,
cut to each query's top `PREDICTIONS_DEPTH`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spladeforge.config import EvaluateConfig
from spladeforge.errors import SpladeforgeError
from spladeforge.evaluation.error_analysis import worst_queries
from spladeforge.evaluation.search import IndexedSearch
from spladeforge.evaluation.systems import evaluate_model
from spladeforge.evaluation.tasks import EvalTask
from spladeforge.retrieval.sparse_index import to_csr

PREDICTIONS_DEPTH = 100  # systems rank 1,000 deep (Recall@1000); the saved files keep the top 100
LATENCY_K = 10


@dataclass
class Comparison:
    """What `evaluate_all` measured, for metrics.json and the report."""

    per_task: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # task -> system -> metric
    latency: dict[str, list[float]] = field(default_factory=dict)  # system -> seconds per query
    active_dims: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # system -> query/document
    errors: list[dict[str, Any]] = field(default_factory=list)  # `error_analysis.worst_queries`
    # task label -> system -> query id -> NDCG@10, local tasks only
    per_query: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    latency_k: int = LATENCY_K  # each timed query: encode it and take its top k


def evaluate_all(cfg: EvaluateConfig, systems: dict[str, Any], tasks: list[EvalTask], folder: Path) -> Comparison:
    """Every system on every task; latency, vector statistics and errors on the held-out task."""
    comparison = Comparison()
    for position, task in enumerate(tasks):
        results = comparison.per_task.setdefault(task.label, {})
        for name, system in systems.items():
            results[name] = evaluate_model(system, task.task, name=name, batch_size=cfg.batch_size,
                                           output_dir=folder, show_progress_bar=False)
            _trim_predictions(folder / "predictions" / name, task.task.metadata.name)
            if task.data is not None:
                comparison.per_query.setdefault(task.label, {})[name] = per_query_ndcg(
                    task.task, task.data.qrels, results[name]["ndcg_at_10"], f"{name} on {task.label}")
            if position != 0 or not isinstance(system, IndexedSearch):
                continue
            queries = list(task.data.queries.values())[:cfg.latency_queries]
            # The base model has the trained model's architecture, hence its latency: not timed.
            if queries and name != "base":
                percentiles, seconds = system.measure_latency(queries, k=comparison.latency_k)
                results[name].update(percentiles)
                comparison.latency[name] = seconds
            if system.kind == "sparse":
                comparison.active_dims[name] = {
                    "query": np.diff(_csr(system.query_vectors).indptr),
                    "document": np.diff(_csr(system.doc_vectors).indptr)}
        if position == 0 and cfg.error_analysis_queries:
            model = systems["model"]
            comparison.errors = worst_queries(
                model.run, task.data.qrels, task.data.queries, task.data.corpus, cfg.error_analysis_queries,
                bm25_run=systems["bm25"].run if "bm25" in systems else None,
                decode=_decoder(model.encoder))
    return comparison


def per_query_ndcg(task: Any, qrels: dict[str, dict[str, int]], mean: float, what: str) -> dict[str, float]:
    """Each judged query's NDCG@10 from the task's last evaluation, checked against MTEB's mean.

    A query the system returned nothing for is absent from pytrec_eval's scores and from MTEB's
    mean; here it counts as 0, so that two systems are always compared on the same queries.
    """
    scores = task.per_query_ndcg
    if scores and len(scores) == len(qrels):
        # MTEB rounds its mean to 5 places: the same sum, in the same order, rounded alike.
        ours = round(sum(scores.values()) / len(scores), 5)
        if abs(ours - mean) > 1e-9:
            raise SpladeforgeError(f"evaluate: per-query NDCG@10 of {what} averages {ours}, MTEB reported {mean}")
    return {qid: float(scores.get(qid, 0.0)) for qid in qrels}


def _csr(vectors: Any):
    matrix = to_csr(vectors)
    matrix.eliminate_zeros()
    return matrix


def _decoder(encoder: Any, top_k: int = 10):
    """Top expansion terms of each query (SparseEncoder.decode), or None if the encoder cannot decode."""
    if not callable(getattr(encoder, "decode", None)):
        return None

    def decode(texts: list[str]) -> list[list[tuple[str, float]]]:
        embeddings = encoder.encode_query(texts, convert_to_sparse_tensor=True)
        return [encoder.decode(embeddings[i], top_k=top_k) for i in range(len(texts))]

    return decode


def _trim_predictions(folder: Path, task_name: str) -> None:
    """Keep each query's top `PREDICTIONS_DEPTH` in MTEB's predictions file (it saves all 1,000)."""
    path = folder / f"{task_name}_predictions.json"
    if not path.is_file():
        return
    data = json.loads(path.read_text())

    def trim(node: Any) -> Any:
        if isinstance(node, dict) and node and all(isinstance(v, int | float) for v in node.values()):
            return dict(sorted(node.items(), key=lambda item: -item[1])[:PREDICTIONS_DEPTH])
        if isinstance(node, dict):
            return {key: trim(value) for key, value in node.items()}
        return node

    path.write_text(json.dumps(trim(data)))
