"""Stage `evaluate`: compare the trained model with its baselines on every task, through MTEB.

Tasks: the held-out BEIR folder, each folder in `evaluate.beir_datasets`, each named MTEB task
in `evaluate.mteb_tasks` (skipped with a warning when its data cannot be loaded, e.g. offline).
Systems, all on the same corpus and judged queries: the trained model (and its INT8 ONNX export
when `int8_dir` is given), the base model, BM25, a dense model and the sparse+dense hybrid.
Sparse and dense systems retrieve through spladeforge's own indexes (`retrieval.sparse_index`);
MTEB scores every ranking. Queries without a judged-relevant document are counted and left out.

Writes `out_dir/`: MTEB's result files under `mteb/`, each system's top 100 per query under
`predictions/`, `report.md`, `report.json`, `errors.md`/`errors.json` and `plots/*.png`; and
`metrics_path`, a flat JSON dict for DVC. Held-out keys keep their names (`model_ndcg_at_10`,
`base_ndcg_at_10`, `bm25_ndcg_at_10`, ...); other tasks' keys start with the task label
(`<task>_model_ndcg_at_10`).

INT8 is optional because `quantize` runs after this stage and already reports the INT8 model's
NDCG@10 and speed against fp32 on the held-out task; pass `int8_dir` (CLI `--int8`) to put it
in this comparison on every task.

For large corpora the Kubeflow DAG encodes the held-out corpus with the trained model in shards
(`encode_documents`, one `.npz` CSR file per shard with its document ids) and hands the files
to `run` as `document_embeddings`: the `model` system then indexes those vectors instead of
encoding the corpus itself. They are the vectors `run` would compute (same encoder, same
passages), up to the float rounding of other batch compositions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spladeforge.config import EvaluateConfig
from spladeforge.errors import InputError
from spladeforge.evaluation.beir import BeirData, load_beir
from spladeforge.evaluation.report import COLUMNS, EFFICIENCY
from spladeforge.io import atomic_output, sha256_tree, write_json

DIGITS = 4
PREDICTIONS_DEPTH = 100  # systems rank 1,000 deep (Recall@1000); the saved files keep the top 100
LATENCY_K = 10
EMBEDDINGS_FORMAT = "spladeforge-document-embeddings/1"


def run(
    cfg: EvaluateConfig,
    model_dir: Path,
    task_dir: Path,
    out_dir: Path,
    metrics_path: Path,
    *,
    int8_dir: Path | None = None,
    baseline: Path | None = None,
    document_embeddings: Sequence[Path] | None = None,
) -> dict:
    """Evaluate and write the outputs; return a short summary for the CLI to print.

    `document_embeddings`: the `encode_documents` shards of `task_dir`'s corpus (in any order),
    used by the `model` system on the held-out task instead of encoding the corpus.
    """
    from spladeforge.evaluation import tasks as tasks_mod
    from spladeforge.evaluation.report import read_baseline
    from spladeforge.models.builtin import resolve_model
    from spladeforge.models.saved import SIDECAR, read_sidecar

    # Everything a user can get wrong is checked before the first model is loaded.
    heldout = load_beir(task_dir).subsample(cfg.max_queries)
    beir = tasks_mod.load_beir_tasks(cfg.beir_datasets, cfg.beir_split, cfg.max_queries)
    named = tasks_mod.resolve_mteb_names(cfg.mteb_tasks) if cfg.mteb_tasks else []
    previous = read_baseline(baseline) if baseline is not None else None
    meta = read_sidecar(model_dir)
    if cfg.compare_base:
        resolve_model(meta["base_model"], key=f"{Path(model_dir) / SIDECAR}: base_model")
    if cfg.dense_model:
        resolve_model(cfg.dense_model, key="evaluate.dense_model")
    documents = None
    if document_embeddings is not None:
        documents = read_document_embeddings(document_embeddings, list(heldout.corpus), sha256_tree(model_dir))

    tasks = [tasks_mod.local_task(heldout, "held-out")]
    tasks += [tasks_mod.local_task(data, label, prefix=f"{label}_") for label, data in beir]
    loaded, skipped = tasks_mod.load_mteb_tasks(named)
    tasks += loaded
    systems = build_systems(cfg, model_dir, meta, int8_dir)
    if documents is not None:
        systems["model"].use_documents(*documents)

    with atomic_output(out_dir, directory=True) as tmp:
        per_task, extras = evaluate_all(cfg, systems, tasks, tmp)
        metrics = flat_metrics(per_task, tasks, heldout)
        deltas = _add_baseline(metrics, previous)
        write_outputs(cfg, tmp, per_task, tasks, metrics, extras, skipped, deltas, baseline)
    write_json(metrics_path, metrics)
    summary = {key: value for key, value in metrics.items()
               if key.endswith("ndcg_at_10") or key.startswith("num_")}
    summary["skipped_tasks"] = len(skipped)
    summary["report"] = str(Path(out_dir) / "report.md")
    return summary


def build_systems(cfg: EvaluateConfig, model_dir: Path, meta: dict, int8_dir: Path | None) -> dict[str, Any]:
    """name -> MTEB search model, in report order; the hybrid reuses the model's and dense runs."""
    from spladeforge.evaluation.search import HybridSearch, IndexedSearch, RecordingSearch
    from spladeforge.evaluation.systems import bm25_system
    from spladeforge.models.build import resolve_device
    from spladeforge.models.fused_head import enable_fused_head
    from spladeforge.models.saved import load_base_model

    device = resolve_device("auto")
    systems: dict[str, Any] = {"model": model_system(cfg, model_dir, device)}
    if int8_dir is not None:
        from spladeforge.models.onnx_encoder import OnnxSparseEncoder

        systems["int8"] = IndexedSearch(OnnxSparseEncoder(int8_dir), "int8", "sparse", cfg.batch_size)
    if cfg.compare_base:
        base = load_base_model(model_dir, meta, device=device)
        if cfg.fused_head:
            enable_fused_head(base)
        systems["base"] = IndexedSearch(base, "base", "sparse", cfg.batch_size)
    if cfg.compare_bm25:
        systems["bm25"] = RecordingSearch(bm25_system())
    if cfg.dense_model:
        from sentence_transformers import SentenceTransformer

        from spladeforge.models.builtin import resolve_model

        path = resolve_model(cfg.dense_model, key="evaluate.dense_model")
        dense = SentenceTransformer(path, device=device, local_files_only=Path(path).is_dir())
        # The trained model's truncation, so both read the same words (and the dense model,
        # 6 layers of 384, costs half as much as at its own 256 tokens).
        dense.max_seq_length = min(dense.max_seq_length or meta["max_seq_length"], meta["max_seq_length"])
        systems["dense"] = IndexedSearch(dense, "dense", "dense", cfg.batch_size)
        systems["hybrid"] = HybridSearch(systems["model"], systems["dense"], cfg.hybrid_weight)
    return systems


def model_system(cfg: EvaluateConfig, model_dir: Path, device: str) -> Any:
    """The trained model as the `model` search system (fused head when `evaluate.fused_head`)."""
    from spladeforge.evaluation.search import IndexedSearch
    from spladeforge.models.fused_head import enable_fused_head
    from spladeforge.models.saved import load_saved_model

    model, _ = load_saved_model(model_dir, device=device)
    if cfg.fused_head:
        enable_fused_head(model)  # same function, ~3x faster document encoding; False if unsupported
    return IndexedSearch(model, "model", "sparse", cfg.batch_size)


def encode_documents(cfg: EvaluateConfig, model_dir: Path, task_dir: Path, output: Path, shard: int = 0,
                     num_shards: int = 1) -> dict[str, Any]:
    """Encode shard `shard` of `num_shards` of `task_dir`'s corpus with the trained model.

    Writes `output`, an `.npz` file: the CSR arrays (`data`, `indices`, `indptr`, `shape`), the
    document ids in row order (`doc_ids`) and `meta` (JSON: format, shard, num_shards, the model
    folder's hash, encoding seconds). Shards are contiguous blocks of corpus.jsonl; an empty
    shard loads no model and writes an empty matrix.
    """
    import time

    import numpy as np

    from spladeforge.evaluation.search import passages
    from spladeforge.models.build import resolve_device
    from spladeforge.retrieval.sparse_index import to_csr
    from spladeforge.shards import shard_slice

    shard_slice(0, shard, num_shards)  # a bad shard number fails before any reading
    corpus = load_beir(task_dir).corpus
    doc_ids = list(corpus)[shard_slice(len(corpus), shard, num_shards)]
    model_sha = sha256_tree(model_dir)
    seconds = 0.0
    if doc_ids:
        system = model_system(cfg, Path(model_dir), resolve_device("auto"))
        texts = passages({"title": corpus[i][0], "text": corpus[i][1]} for i in doc_ids)
        start = time.perf_counter()
        matrix = to_csr(system.encode_documents(texts))
        seconds = time.perf_counter() - start
    else:
        import scipy.sparse as sp

        matrix = sp.csr_matrix((0, 0), dtype=np.float32)
    meta = {"format": EMBEDDINGS_FORMAT, "shard": shard, "num_shards": num_shards, "model_sha256": model_sha,
            "documents": len(doc_ids), "seconds": seconds}
    with atomic_output(output) as tmp, open(tmp, "wb") as fh:  # a file handle: savez adds no suffix
        np.savez(fh, data=matrix.data, indices=matrix.indices, indptr=matrix.indptr,
                 shape=np.asarray(matrix.shape, dtype=np.int64), doc_ids=np.asarray(doc_ids, dtype=np.str_),
                 meta=np.asarray(json.dumps(meta)))
    return {**meta, "active_dims": float(matrix.getnnz() / len(doc_ids)) if doc_ids else 0.0,
            "output": str(output)}


def read_document_embeddings(paths: Sequence[Path], corpus_ids: list[str],
                             model_sha: str) -> tuple[list[str], Any, float]:
    """Stack `encode_documents` shards: (doc ids, CSR [docs, vocab], total encoding seconds).

    The shards must be every shard 0..n-1 of one n exactly once, encoded by this very model
    folder, and together hold each document of `corpus_ids` once; otherwise `InputError`.
    """
    import numpy as np
    import scipy.sparse as sp

    from spladeforge.shards import check_complete

    shards = []
    for path in map(Path, paths):
        try:
            with np.load(path, allow_pickle=False) as npz:
                meta = json.loads(str(npz["meta"]))
                if meta.get("format") != EMBEDDINGS_FORMAT:
                    raise ValueError(f"format {meta.get('format')!r}")
                shape = tuple(int(n) for n in npz["shape"])
                matrix = sp.csr_matrix((npz["data"], npz["indices"], npz["indptr"]), shape=shape)
                ids = [str(i) for i in npz["doc_ids"]]
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"{path}: not a document embeddings file from encode_documents ({exc})") from None
        if meta["model_sha256"] != model_sha:
            raise InputError(f"{path}: encoded by another model (sha256 {meta['model_sha256'][:12]}, the model "
                             f"evaluated is {model_sha[:12]})")
        shards.append((int(meta["shard"]), int(meta["num_shards"]), ids, matrix, float(meta["seconds"])))
    shards.sort(key=lambda item: item[0])
    check_complete([(index, of) for index, of, *_ in shards], "document embeddings")
    ids = [doc_id for _, _, shard_ids, _, _ in shards for doc_id in shard_ids]
    if sorted(ids) != sorted(corpus_ids):
        missing = sorted(set(corpus_ids) - set(ids))
        raise InputError(f"document embeddings: the shards hold {len(ids)} documents, the corpus {len(corpus_ids)}"
                         + (f"; missing e.g. {missing[0]!r}" if missing else "; some are not in the corpus"))
    filled = [matrix for _, _, shard_ids, matrix, _ in shards if shard_ids]
    if len({m.shape[1] for m in filled}) > 1:
        raise InputError(f"document embeddings: shards of different widths {sorted({m.shape[1] for m in filled})}")
    return ids, sp.vstack(filled, format="csr", dtype=np.float32), sum(item[4] for item in shards)


def evaluate_all(cfg: EvaluateConfig, systems: dict[str, Any], tasks: list, tmp: Path) -> tuple[dict, dict]:
    """Every system on every task; latency, vector statistics and errors on the held-out task."""
    import numpy as np

    from spladeforge.evaluation.errors import worst_queries
    from spladeforge.evaluation.search import IndexedSearch
    from spladeforge.evaluation.systems import evaluate_model

    per_task: dict[str, dict[str, dict[str, float]]] = {}
    extras: dict[str, Any] = {"latency": {}, "active_dims": {}, "errors": []}
    for position, task in enumerate(tasks):
        results = per_task.setdefault(task.label, {})
        for name, system in systems.items():
            results[name] = evaluate_model(system, task.task, name=name, batch_size=cfg.batch_size,
                                           output_dir=tmp, show_progress_bar=False)
            _trim_predictions(tmp / "predictions" / name, task.task.metadata.name)
            if position != 0 or not isinstance(system, IndexedSearch):
                continue
            queries = list(task.data.queries.values())[:cfg.latency_queries]
            # The base model has the trained model's architecture, hence its latency: not timed.
            if queries and name != "base":
                percentiles, seconds = system.measure_latency(queries, k=LATENCY_K)
                results[name].update(percentiles)
                extras["latency"][name] = seconds
            if system.kind == "sparse":
                extras["active_dims"][name] = {
                    "query": np.diff(_csr(system.query_vectors).indptr),
                    "document": np.diff(_csr(system.doc_vectors).indptr)}
        if position == 0 and cfg.error_analysis_queries:
            model = systems["model"]
            extras["errors"] = worst_queries(
                model.run, task.data.qrels, task.data.queries, task.data.corpus, cfg.error_analysis_queries,
                bm25_run=systems["bm25"].run if "bm25" in systems else None,
                decode=_decoder(model.encoder))
    return per_task, extras


def _csr(vectors: Any):
    from spladeforge.retrieval.sparse_index import to_csr

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


def flat_metrics(
    per_task: dict[str, dict[str, dict[str, float]]], tasks: list, heldout: BeirData
) -> dict[str, float | int]:
    """`{prefix}{system}_{metric}` for every task, system and metric; counts; the delta vs base."""
    metrics: dict[str, float | int] = {
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


def _add_baseline(metrics: dict[str, Any], previous: dict[str, float] | None) -> dict | None:
    if previous is None:
        return None
    from spladeforge.evaluation.report import baseline_deltas

    deltas = baseline_deltas(metrics, previous)
    for key, (_, _, delta) in deltas.items():
        if key.endswith("ndcg_at_10"):
            metrics[f"{key}_delta_vs_baseline"] = round(delta, DIGITS)
    return deltas


def write_outputs(cfg, tmp: Path, per_task, tasks, metrics, extras, skipped, deltas, baseline) -> None:
    import mteb

    from spladeforge.evaluation import report
    from spladeforge.evaluation.errors import render_errors

    lines = ["# Retrieval evaluation", "",
             f"Scored by MTEB {mteb.__version__}. Queries without a judged-relevant document are left "
             "out of every mean. Sparse and dense systems retrieve over spladeforge's own index; latency "
             f"is per query, encoding plus top-{LATENCY_K}, one query at a time (not timed for the base "
             "model, which has the trained model's architecture).", ""]
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
        results = per_task[task.label]
        lines += report.quality_table(results) + [""]
        efficiency = report.efficiency_table(results)
        lines += efficiency + ([""] if efficiency else [])
        if f"{task.prefix}ndcg_at_10_delta_vs_base" in metrics:
            lines += [f"NDCG@10 change against the base model: "
                      f"{metrics[f'{task.prefix}ndcg_at_10_delta_vs_base']:+.4f}", ""]
    if skipped:
        lines += ["## Skipped tasks", ""] + [f"- {message}" for message in skipped] + [""]
    if deltas is not None:
        lines += report.baseline_section(deltas, baseline) + [""]
    (tmp / "report.md").write_text("\n".join(lines), encoding="utf-8")
    write_json(tmp / "report.json", {"tasks": per_task, "skipped_tasks": skipped})

    plots = tmp / "plots"
    plots.mkdir()
    report.plot_ndcg(per_task, plots / "ndcg.png")
    # Every file is always written (empty when switched off): dvc.yaml declares each one.
    report.plot_active_dims(extras["active_dims"], plots / "active_dims.png")
    report.plot_latency(extras["latency"], plots / "latency.png")
    (tmp / "errors.md").write_text(render_errors(extras["errors"]), encoding="utf-8")
    write_json(tmp / "errors.json", extras["errors"])
