"""train: fine-tune a sparse encoder with sentence-transformers' SparseEncoderTrainer.

Architectures (`train.architecture`): regular SPLADE, inference-free SPLADE and CSR, built in
`models.architectures`. Loss: SpladeLoss around SparseMultipleNegativesRankingLoss (in-batch
plus mined negatives), or a distillation loss when the mined tuples carry teacher scores, with
FLOPS (or IDF-aware FLOPS) regularizers warmed up over the first part of training; CSRLoss for
CSR. Validation NDCG@10 on the held-out split every `train.eval_steps` steps picks the
checkpoint that is kept; checkpoints make a killed run resumable (`train.resume: auto`).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

from spladeforge.config import TrainConfig
from spladeforge.errors import ConfigError
from spladeforge.io import atomic_output, write_json
from spladeforge.models.build import resolve_device
from spladeforge.models.saved import SIDECAR
from spladeforge.training.args import (
    BEST_METRIC,
    EVAL_NAME,
    fingerprint,
    prepare_checkpoints,
    training_args,
)
from spladeforge.training.data import corpus_texts, load_tuples, load_validation, with_labels

logger = logging.getLogger(__name__)


# The training figures the Kubeflow UI shows as the train task's metrics.
CURVE_FIGURES = ("final_loss", "best_val_ndcg_at_10", "val_ndcg_at_10", "triplets_per_second")


def input_hashes(tuples_path: Path, validation_dir: Path, provenance: dict[str, Any]) -> dict[str, str]:
    """The manifest's input hashes, taken from `provenance` instead of hashing the inputs again."""
    return {str(tuples_path): provenance["tuples_sha256"], str(validation_dir): provenance["validation_sha256"]}


def provenance(tuples_path: Path, validation_dir: Path, documents_meta: Path | None = None) -> dict[str, Any]:
    """What the model is trained on: input hashes and ingest's record (normalization, data version)."""
    from spladeforge.io import read_json, sha256_tree

    out: dict[str, Any] = {"tuples_sha256": sha256_tree(tuples_path),
                           "validation_sha256": sha256_tree(validation_dir)}
    if documents_meta is not None and documents_meta.is_file():
        out["documents"] = read_json(documents_meta)
    return out


def _datasets(cfg: TrainConfig, columns: dict[str, list[Any]], distill: str | None):
    """The generated tuples alone, or a dict of named datasets with the extra ones mixed in."""
    from datasets import Dataset

    from spladeforge.training.data import load_extra_dataset

    generated = Dataset.from_dict(columns)
    if not cfg.extra_datasets:
        return generated, {}
    if distill is not None:
        raise ConfigError("train.extra_datasets: mixing datasets with distillation is not supported "
                          "(the extra datasets carry no teacher scores); set train.distillation: none")
    datasets = {"generated": generated}
    for i, ref in enumerate(cfg.extra_datasets):
        datasets[f"extra_{i}_{Path(ref).stem}"] = load_extra_dataset(ref)
    return datasets, {name: len(d) for name, d in datasets.items() if name != "generated"}


def _column_names(dataset) -> list[str]:
    if isinstance(dataset, dict):
        return sorted({c for d in dataset.values() for c in d.column_names})
    return list(dataset.column_names)


def _distillation(cfg: TrainConfig, has_scores: bool, n_neg: int) -> str | None:
    if cfg.distillation == "none" or not has_scores:
        if cfg.distillation in ("margin-mse", "kl-div"):
            raise ConfigError(f"train.distillation: {cfg.distillation} needs teacher scores in the "
                              "mined tuples (set mine.teacher), or use auto/none")
        return None
    if cfg.distillation == "auto":
        return "margin-mse" if n_neg == 1 else "kl-div"
    if cfg.distillation == "margin-mse" and n_neg != 1:
        raise ConfigError("train.distillation: margin-mse takes one negative per tuple "
                          f"(mined {n_neg}); use kl-div or mine.num_negatives: 1")
    return cfg.distillation


def _callbacks(cfg: TrainConfig, loss, tensorboard_dir: Path) -> list:
    from transformers import EarlyStoppingCallback
    from transformers.integrations import MLflowCallback, TensorBoardCallback

    from spladeforge.training.callbacks import SafeCallback, ScalePhaseCallback

    callbacks: list = []
    if cfg.scale_phases:
        callbacks.append(ScalePhaseCallback(loss, [(p.until, p.scale) for p in cfg.scale_phases]))
    if cfg.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    for name in cfg.tracking:
        try:
            if name == "tensorboard":
                inner = TensorBoardCallback()
                inner.logging_dir = str(tensorboard_dir)
            else:
                inner = MLflowCallback()
            callbacks.append(SafeCallback(inner))
        except Exception as exc:  # noqa: BLE001 - a missing tracking backend never stops training
            logger.warning("%s tracking is off: %s", name, exc)
    if cfg.architecture != "csr":
        from sentence_transformers.sparse_encoder.callbacks.splade_callbacks import (
            SpladeRegularizerWeightSchedulerCallback,
        )

        callbacks.append(SpladeRegularizerWeightSchedulerCallback(loss, warmup_ratio=cfg.regularizer_warmup_ratio))
    return callbacks


def run(cfg: TrainConfig, tuples_path: Path, validation_dir: Path, output: Path, reports: Path,
        seed: int, checkpoints: Path | None = None, provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train, keep the best checkpoint by validation NDCG@10, save the model folder and curves."""
    from spladeforge.models.builtin import resolve_model
    from spladeforge.training.launch import inside_torchrun, is_main_process, launch

    resolve_model(cfg.base_model, key="train.base_model")  # a missing model fails before any work
    checkpoints = checkpoints or output.parent / f".{output.name}-checkpoints"
    if cfg.processes > 1 and not inside_torchrun():
        return launch(cfg, tuples_path=tuples_path, validation_dir=validation_dir, output=output,
                      reports=reports, seed=seed, checkpoints=checkpoints, provenance=provenance)

    from sentence_transformers.sparse_encoder import SparseEncoderTrainer
    from sentence_transformers.sparse_encoder.evaluation import SparseInformationRetrievalEvaluator
    from transformers import set_seed

    from spladeforge.models.architectures import build_model, corpus_idf
    from spladeforge.models.fused_head import enable_fused_head
    from spladeforge.training.curves import write_curves
    from spladeforge.training.losses import build_loss

    columns, n_neg, has_scores = load_tuples(tuples_path)
    queries, corpus, relevant = load_validation(validation_dir)
    n = len(columns["anchor"])
    if cfg.batch_size * cfg.processes > n:
        per = f" x {cfg.processes} processes" if cfg.processes > 1 else ""
        raise ConfigError(f"train.batch_size: {cfg.batch_size}{per} is larger than the {n} training "
                          f"tuples in {tuples_path} (accepted: 2..{n // cfg.processes})")
    distill = _distillation(cfg, has_scores, n_neg)
    device = resolve_device(cfg.device)
    set_seed(seed)
    passages = corpus_texts(columns)
    model = build_model(cfg, device, passages)
    if cfg.fused_head and not enable_fused_head(model):
        # An unsupported SPLADE head has already warned, naming its architecture; CSR has none to fuse.
        logger.info("train.fused_head: no fused SPLADE head for this model, training it unfused")
    idf = None
    if cfg.document_regularizer == "idf-flops" and cfg.architecture != "csr":
        idf = corpus_idf(model.tokenizer, passages)
    loss = build_loss(cfg, model, distill, idf)

    world = cfg.processes
    steps_per_epoch = max(1, n // (cfg.batch_size * cfg.gradient_accumulation_steps * world))
    steps = cfg.max_steps or math.ceil(cfg.epochs * steps_per_epoch)
    run_print = fingerprint(cfg, seed, provenance or {})
    resume_from = prepare_checkpoints(checkpoints, cfg, run_print) if is_main_process() else None
    if inside_torchrun():
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if device == "cuda" else "gloo")
        holder = [resume_from]
        dist.broadcast_object_list(holder, src=0)
        resume_from = holder[0]

    train_columns = with_labels(columns, distill)
    train_dataset, extra_rows = _datasets(cfg, train_columns, distill)
    evaluator = SparseInformationRetrievalEvaluator(
        queries=queries, corpus=corpus, relevant_docs=relevant, name=EVAL_NAME,
        batch_size=cfg.batch_size, write_csv=False,
    )
    trainer = SparseEncoderTrainer(
        model=model,
        args=training_args(cfg, checkpoints, device, seed, steps, _column_names(train_dataset)),
        train_dataset=train_dataset,
        loss=loss,
        evaluator=evaluator,
        callbacks=_callbacks(cfg, loss, reports.parent / "tensorboard"),
    )
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume_from)
    seconds = time.perf_counter() - started
    step = trainer.state.global_step
    if step == 0:
        raise ConfigError(f"train: no training step ran on {tuples_path}: the batch sampler found no "
                          f"full batch of {cfg.batch_size} distinct texts per process; lower "
                          "train.batch_size or set train.batch_sampler: batch_sampler")
    if not trainer.is_world_process_zero():
        return {"steps": step}
    final_eval = evaluator(model)  # the best checkpoint, reloaded at the end of training

    meta = {
        "base_model": cfg.base_model,
        "architecture": cfg.architecture,
        "max_seq_length": cfg.max_seq_length,
        "seed": seed,
        "train": cfg.model_dump(mode="json"),
        "provenance": provenance or {},
        "distillation": distill,
        "resumed_from_step": int(resume_from.rsplit("-", 1)[1]) if resume_from else None,
        "validation_ndcg_at_10": final_eval.get(f"{EVAL_NAME}_dot_ndcg@10"),
    }
    with atomic_output(output, directory=True) as tmp:
        model.save(str(tmp))
        write_json(tmp / SIDECAR, meta)
    curves = write_curves(trainer.state.log_history, reports, BEST_METRIC)
    shutil.rmtree(checkpoints, ignore_errors=True)
    trained_steps = step - (meta["resumed_from_step"] or 0)
    return {
        "architecture": cfg.architecture,
        "steps": step,
        "resumed_from_step": meta["resumed_from_step"],
        "tuples": n,
        "negatives_per_tuple": n_neg,
        "distillation": distill or "none",
        "extra_datasets": extra_rows,
        "device": device,
        "processes": int(os.environ.get("WORLD_SIZE", "1")),
        "seconds": round(seconds, 1),
        "triplets_per_second": round(trained_steps * cfg.batch_size * cfg.gradient_accumulation_steps
                                     * world / max(seconds, 1e-9), 2),
        "final_loss": curves["final_loss"],
        "best_val_ndcg_at_10": curves["best_val_ndcg_at_10"],
        "val_ndcg_at_10": meta["validation_ndcg_at_10"],
        "output": str(output),
    }
