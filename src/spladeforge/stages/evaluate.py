"""Stage `evaluate`: compare the trained model with its baselines on every task, through MTEB.

Reads the trained model folder, the held-out split (a BEIR folder), the folders in
`evaluate.beir_datasets` and the MTEB tasks named in `evaluate.mteb_tasks` (one whose data cannot
be loaded, e.g. offline, is skipped with a warning); optionally the INT8 export (`int8_dir`, CLI
`--int8`: `quantize` runs after this stage and reports INT8 against fp32 itself), a previous
metrics file (`baseline`) and the held-out corpus's document embeddings computed in shards
(`document_embeddings`, written by `encode_documents` in the Kubeflow fan-out).

Writes `out_dir/`: MTEB's result files under `mteb/`, each system's top 100 per query under
`predictions/`, `per_query.json` (task label -> system -> query id -> NDCG@10: the figures MTEB
averages, which register's paired bootstrap resamples), `report.md`, `report.json`,
`errors.md`/`errors.json` and `plots/*.png`; and `metrics_path`, a flat JSON dict for DVC (with
each local task's `set_sha256`, the content hash of what it was measured on).

Where it lives: the tasks in `evaluation.tasks`, the systems (model, INT8, base, BM25, dense,
hybrid) in `evaluation.systems`, the comparison in `evaluation.compare`, metrics.json in
`evaluation.metrics`, the report in `evaluation.report`, the shard files in `evaluation.embeddings`,
the judgments folder (the task `judged`) in `evaluation.judged`, judged fractions in `.agreement`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spladeforge.config import EvaluateConfig
from spladeforge.config.release import JUDGED_LABEL
from spladeforge.evaluation import tasks as eval_tasks
from spladeforge.evaluation.beir import load_beir
from spladeforge.evaluation.embeddings import encode_shard, read_document_embeddings
from spladeforge.evaluation.judged import load_judgments
from spladeforge.evaluation.metrics import HELD_OUT_LABEL, PER_QUERY_FILE, add_baseline_deltas, flat_metrics
from spladeforge.evaluation.report import read_baseline, write_report
from spladeforge.io import atomic_outputs, sha256_tree, write_json
from spladeforge.models.build import resolve_device
from spladeforge.models.builtin import resolve_model
from spladeforge.models.saved import SIDECAR, read_sidecar
from spladeforge.shards import shard_slice


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
    judgments: Path | None = None,
) -> dict:
    """Evaluate and write the outputs; return a short summary for the CLI to print.

    `document_embeddings`: the `encode_documents` shards of `task_dir`'s corpus (in any order),
    used by the `model` system on the held-out task instead of encoding the corpus.
    """
    # Everything a user can get wrong is checked before the first model is loaded.
    heldout = load_beir(task_dir).subsample(cfg.max_queries)
    judged = load_judgments(cfg, judgments or cfg.judgments, heldout.corpus)
    beir = [(JUDGED_LABEL, judged.data)] if judged and judged.data else []  # the team's judged queries
    beir += eval_tasks.load_beir_tasks(cfg.beir_datasets, cfg.beir_split, cfg.max_queries)
    named = eval_tasks.resolve_mteb_names(cfg.mteb_tasks) if cfg.mteb_tasks else []
    previous = read_baseline(baseline) if baseline is not None else None
    meta = read_sidecar(model_dir)
    if cfg.compare_base:
        resolve_model(meta["base_model"], key=f"{Path(model_dir) / SIDECAR}: base_model")
    if cfg.dense_model:
        resolve_model(cfg.dense_model, key="evaluate.dense_model")
    documents = None
    if document_embeddings is not None:
        documents = read_document_embeddings(document_embeddings, list(heldout.corpus), sha256_tree(model_dir))
    # MTEB and torch take seconds to import: only once the inputs have passed the checks above.
    from spladeforge.evaluation.agreement import add_judged_fractions, judged_outcome
    from spladeforge.evaluation.compare import evaluate_all
    from spladeforge.evaluation.systems import build_systems

    tasks = [eval_tasks.local_task(heldout, HELD_OUT_LABEL)]
    tasks += [eval_tasks.local_task(data, label, prefix=f"{label}_") for label, data in beir]
    loaded, skipped = eval_tasks.load_mteb_tasks(named)
    tasks += loaded
    systems = build_systems(cfg, model_dir, meta, int8_dir)
    if documents is not None:
        systems["model"].use_documents(*documents)

    with atomic_outputs(out_dir, metrics_path, folders=(out_dir,)) as (tmp, metrics_tmp):
        comparison = evaluate_all(cfg, systems, tasks, tmp)
        add_judged_fractions(comparison.per_task, tasks, tmp / "predictions")
        metrics = flat_metrics(comparison.per_task, tasks, heldout)
        judged_metrics, agreement = judged_outcome(judged, tasks, list(systems), tmp / "predictions")
        metrics |= judged_metrics
        deltas = add_baseline_deltas(metrics, previous)
        write_report(cfg, tmp, tasks, comparison, metrics, skipped, deltas, baseline, judged and judged.describe(),
                     agreement)
        write_json(tmp / PER_QUERY_FILE, comparison.per_query)
        write_json(metrics_tmp, metrics)
    summary = {key: value for key, value in metrics.items()
               if key.endswith(("ndcg_at_10", "set_sha256", "judged_enough")) or key.startswith("num_")}
    summary["skipped_tasks"] = len(skipped)
    summary["report"] = str(Path(out_dir) / "report.md")
    return summary


def encode_documents(cfg: EvaluateConfig, model_dir: Path, task_dir: Path, output: Path, shard: int = 0,
                     num_shards: int = 1) -> dict[str, Any]:
    """Encode shard `shard` of `num_shards` of `task_dir`'s corpus with the trained model into `output`
    (the `.npz` format of `evaluation.embeddings`); an empty shard loads no model."""
    shard_slice(0, shard, num_shards)  # a bad shard number fails before any reading
    corpus = load_beir(task_dir).corpus
    doc_ids = list(corpus)[shard_slice(len(corpus), shard, num_shards)]
    model_sha = sha256_tree(model_dir)
    system = None
    if doc_ids:
        # MTEB and torch take seconds to import: only when there is something to encode.
        from spladeforge.evaluation.systems import model_system

        system = model_system(cfg, Path(model_dir), resolve_device("auto"))
    return encode_shard(system, corpus, doc_ids, output, shard=shard, num_shards=num_shards, model_sha=model_sha)
