"""train: fine-tune a SPLADE model with sentence-transformers' SparseEncoderTrainer.

Loss: SpladeLoss(SparseMultipleNegativesRankingLoss) — in-batch plus mined negatives — with
FLOPS regularizers on queries and documents whose weights sentence-transformers warms up
quadratically over the first third of training. Validation NDCG@10 on the held-out split is
computed every `train.eval_steps` steps and the best checkpoint is the one kept.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import shutil
import time
from pathlib import Path
from typing import Any

from spladeforge.config import TrainConfig
from spladeforge.errors import ConfigError, InputError
from spladeforge.io import atomic_output, iter_jsonl, write_json
from spladeforge.models.build import load_sparse_encoder, resolve_device
from spladeforge.text import passage

logger = logging.getLogger(__name__)

EVAL_NAME = "validation"
BEST_METRIC = f"eval_{EVAL_NAME}_dot_ndcg@10"
META_FILE = "spladeforge.json"


def load_tuples(path: Path) -> tuple[dict[str, list[str]], int]:
    """Columns anchor, positive, negative_1..N (the order the loss expects)."""
    rows = list(iter_jsonl(path, required=("anchor", "positive")))
    if not rows:
        raise InputError(f"{path}: no training tuples")
    n_neg = min(sum(1 for k in r if k.startswith("negative_") and k != "negative_ids") for r in rows)
    columns = {"anchor": [r["anchor"] for r in rows], "positive": [r["positive"] for r in rows]}
    for n in range(1, n_neg + 1):
        columns[f"negative_{n}"] = [r[f"negative_{n}"] for r in rows]
    return columns, n_neg


def load_validation(folder: Path) -> tuple[dict[str, str], dict[str, str], dict[str, set[str]]]:
    """Queries, corpus and relevant docs of a BEIR folder, for the in-training evaluator."""
    corpus = {d["_id"]: passage(d) for d in iter_jsonl(folder / "corpus.jsonl", required=("_id", "text"))}
    queries = {q["_id"]: q["text"] for q in iter_jsonl(folder / "queries.jsonl", required=("_id", "text"))}
    relevant: dict[str, set[str]] = {}
    qrels = folder / "qrels" / "test.tsv"
    if not qrels.is_file():
        raise InputError(f"{qrels}: file not found (a BEIR folder needs qrels/test.tsv)")
    for lineno, line in enumerate(qrels.read_text(encoding="utf-8").splitlines()[1:], start=2):
        parts = line.split("\t")
        if len(parts) != 3:
            raise InputError(f"{qrels}:{lineno}: expected query-id<TAB>corpus-id<TAB>score")
        if int(parts[2]) > 0:
            relevant.setdefault(parts[0], set()).add(parts[1])
    queries = {q: t for q, t in queries.items() if q in relevant}
    if not queries or not corpus:
        raise InputError(f"{folder}: the validation split has no judged queries or no corpus")
    return queries, corpus, relevant


def _training_args(cfg: TrainConfig, output_dir: Path, device: str, seed: int, steps: int):
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sparse_encoder import SparseEncoderTrainingArguments

    if cfg.precision == "fp16" and device != "cuda":
        raise ConfigError("train.precision: fp16 needs a CUDA device (accepted here: fp32, bf16)")
    eval_steps = min(cfg.eval_steps, steps)
    return SparseEncoderTrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        activation_checkpointing=cfg.gradient_checkpointing,
        learning_rate=cfg.learning_rate,
        warmup_steps=math.ceil(cfg.warmup_ratio * steps),
        bf16=cfg.precision == "bf16",
        fp16=cfg.precision == "fp16",
        tf32=cfg.tf32 if device == "cuda" else None,
        torch_compile=cfg.torch_compile,
        batch_sampler=BatchSamplers.NO_DUPLICATES if cfg.batch_sampler == "no_duplicates"
        else BatchSamplers.BATCH_SAMPLER,
        dataloader_num_workers=cfg.dataloader_num_workers,
        dataloader_pin_memory=cfg.dataloader_pin_memory,
        dataloader_prefetch_factor=cfg.dataloader_prefetch_factor if cfg.dataloader_num_workers else None,
        eval_strategy="steps",
        eval_steps=eval_steps,
        save_strategy="steps",
        save_steps=eval_steps,
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model=BEST_METRIC,
        greater_is_better=True,
        logging_steps=min(cfg.logging_steps, steps),
        logging_first_step=True,
        eval_on_start=True,  # the base model's NDCG@10 starts the validation curve
        seed=seed,
        data_seed=seed,
        use_cpu=device == "cpu",
        report_to="none",
        disable_tqdm=False,
        run_name="spladeforge-train",
    )


def _write_curves(history: list[dict[str, Any]], reports: Path) -> dict[str, Any]:
    """Training loss and validation NDCG@10 by step, as CSV for DVC plots and one PNG."""
    loss = [(h["step"], h["loss"]) for h in history if "loss" in h]
    ndcg = [(h["step"], h[BEST_METRIC]) for h in history if BEST_METRIC in h]
    with atomic_output(reports, directory=True) as tmp:
        (tmp / "log_history.json").write_text(json.dumps(history, indent=1))
        for name, header, rows in (("loss.csv", ("step", "loss"), loss),
                                   ("val_ndcg.csv", ("step", "ndcg_at_10"), ndcg)):
            with open(tmp / name, "w", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(header)
                writer.writerows(rows)
        _plot(loss, ndcg, tmp / "curves.png")
    return {"final_loss": loss[-1][1] if loss else None,
            "best_val_ndcg_at_10": max((v for _, v in ndcg), default=None)}


def _plot(loss: list[tuple[int, float]], ndcg: list[tuple[int, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
    if loss:
        a.plot(*zip(*loss, strict=True), marker=".")
    a.set(title="training loss", xlabel="step", ylabel="loss")
    if ndcg:
        b.plot(*zip(*ndcg, strict=True), marker="o", color="tab:green")
    b.set(title="validation NDCG@10", xlabel="step", ylabel="NDCG@10")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(cfg: TrainConfig, tuples_path: Path, validation_dir: Path, output: Path, reports: Path,
        seed: int, checkpoints: Path | None = None, provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    from datasets import Dataset
    from sentence_transformers.sparse_encoder import SparseEncoderTrainer
    from sentence_transformers.sparse_encoder.evaluation import SparseInformationRetrievalEvaluator
    from sentence_transformers.sparse_encoder.losses import SparseMultipleNegativesRankingLoss, SpladeLoss
    from transformers import set_seed

    columns, n_neg = load_tuples(tuples_path)
    queries, corpus, relevant = load_validation(validation_dir)
    n = len(columns["anchor"])
    if cfg.batch_size > n:
        raise ConfigError(f"train.batch_size: {cfg.batch_size} is larger than the {n} training tuples "
                          f"in {tuples_path} (accepted: 2..{n})")
    device = resolve_device(cfg.device)
    set_seed(seed)
    model = load_sparse_encoder(cfg.base_model, max_seq_length=cfg.max_seq_length, device=device)

    steps_per_epoch = max(1, n // (cfg.batch_size * cfg.gradient_accumulation_steps))
    steps = cfg.max_steps or math.ceil(cfg.epochs * steps_per_epoch)
    checkpoints = checkpoints or output.parent / f".{output.name}-checkpoints"
    if checkpoints.exists():
        shutil.rmtree(checkpoints)  # scratch space of an earlier run of this stage

    loss = SpladeLoss(
        model,
        loss=SparseMultipleNegativesRankingLoss(model),
        query_regularizer_weight=cfg.query_regularizer_weight,
        document_regularizer_weight=cfg.document_regularizer_weight,
    )
    evaluator = SparseInformationRetrievalEvaluator(
        queries=queries, corpus=corpus, relevant_docs=relevant, name=EVAL_NAME,
        batch_size=cfg.batch_size, write_csv=False,
    )
    trainer = SparseEncoderTrainer(
        model=model,
        args=_training_args(cfg, checkpoints, device, seed, steps),
        train_dataset=Dataset.from_dict(columns),
        loss=loss,
        evaluator=evaluator,
    )
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    final_eval = evaluator(model)  # the best checkpoint, reloaded at the end of training

    meta = {
        "base_model": cfg.base_model,
        "architecture": cfg.architecture,
        "max_seq_length": cfg.max_seq_length,
        "seed": seed,
        "train": cfg.model_dump(mode="json"),
        "provenance": provenance or {},
        "validation_ndcg_at_10": final_eval.get(f"{EVAL_NAME}_dot_ndcg@10"),
    }
    with atomic_output(output, directory=True) as tmp:
        model.save(str(tmp))
        write_json(tmp / META_FILE, meta)
    curves = _write_curves(trainer.state.log_history, reports)
    shutil.rmtree(checkpoints, ignore_errors=True)
    step = trainer.state.global_step
    return {
        "steps": step,
        "tuples": n,
        "negatives_per_tuple": n_neg,
        "device": device,
        "seconds": round(seconds, 1),
        "triplets_per_second": round(step * cfg.batch_size * cfg.gradient_accumulation_steps / seconds, 2),
        "final_loss": curves["final_loss"],
        "best_val_ndcg_at_10": curves["best_val_ndcg_at_10"],
        "val_ndcg_at_10": meta["validation_ndcg_at_10"],
        "output": str(output),
    }
